import { credentialEntry } from './credential.js'
import { ECHO_CLOSE_CODE, ECHO_REASON } from './echo.js'
import { absoluteUrl, credentialOptions, isToken } from './options.js'
import type { CredentialWebSocketClass, CredentialWebSocketOptions } from './types.js'

/** `credentialWebSocket()` with the platform's WebSocket class as the default base. */
export function credentialClass (options: CredentialWebSocketOptions, defaultWebSocket: typeof WebSocket | undefined): CredentialWebSocketClass {
  const { getToken, ticketUrl: ticket, protocols: extra, subprotocolPrefix, WebSocket: Base, fetch: fetchFn, checkUrl } = credentialOptions(options, defaultWebSocket)
  /** The URL, checked: no user or password, and no credential in clear to another machine. */
  const socketUrl = (url: unknown, label: string): string => {
    const checked = absoluteUrl(url, label, 'ws')
    checkUrl(checked, label)
    return checked.href
  }
  /** the entry `prepare()` fetched for the next socket, and the URL it was fetched for; used once */
  let prepared: { href: string, entry: string } | undefined
  /** the base class's `protocol`, past the getter below that hides an echoed credential */
  const protocolOf = (socket: WebSocket): string => Reflect.get(Base.prototype, 'protocol', socket) as string

  return class CredentialWebSocket extends Base {
    /** the credential entry this socket offered, if any */
    readonly #entry: string | undefined

    constructor (url: string | URL, offered?: unknown) {
      const held = prepared
      prepared = undefined
      // Checked as prepare() checks it: a user or password in it is refused here too, before the
      // base class (and the framework's logs of `socket.url`) could hold it.
      const href = socketUrl(url, 'url')
      // Only a socket to the URL it was prepared for carries it: a ticket is bound to its path.
      if (held !== undefined && href !== held.href) throw new TypeError('this socket\'s url is not the one prepare(url) was given; the prepared credential was dropped')
      let entry = held?.entry
      if (entry === undefined && ticket !== undefined) throw new TypeError('with ticketUrl, call prepare(url) before each socket (pass url: () => Class.prepare(url))')
      if (entry === undefined && getToken !== undefined) {
        const token = getToken({ reason: 'connect' })
        if (token instanceof Promise) token.catch(() => {})
        if (!isToken(token)) throw new TypeError('getToken() must return a token synchronously here (else call prepare(url) before each socket)')
        entry = subprotocolPrefix + token
      }
      super(href, [...[offered ?? []].flat() as string[], ...extra, ...(entry === undefined ? [] : [entry])])
      this.#entry = entry
      // A server that selects the credential as its subprotocol (anything but wsguard, which
      // strips it) would put it in `protocol`, which frameworks and apps log. Added before the
      // framework's own listeners: the socket is closed 4400 as it opens, and where the
      // platform can (a browser's EventTarget) the framework never hears of the open.
      if (entry !== undefined) {
        this.addEventListener('open', (event: Event) => {
          if (protocolOf(this) !== entry) return
          event.stopImmediatePropagation?.()
          this.close(ECHO_CLOSE_CODE, ECHO_REASON)
        })
      }
    }

    /** The subprotocol the server selected; never the credential entry (an empty string instead). */
    override get protocol (): string {
      const selected = protocolOf(this)
      return selected === this.#entry ? '' : selected
    }

    static async prepare (url: string | URL): Promise<string> {
      const href = socketUrl(url, 'prepare(url): url')
      const entry = await credentialEntry({ getToken, ticketUrl: ticket, path: new URL(href).pathname, subprotocolPrefix, fetch: fetchFn }, 'connect')
      prepared = entry === undefined ? undefined : { href, entry }
      return href
    }
  }
}
