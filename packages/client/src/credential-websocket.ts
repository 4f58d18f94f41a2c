import { credentialEntry } from './credential.js'
import { absoluteUrl, credentialOptions, isToken } from './options.js'
import type { CredentialWebSocketClass, CredentialWebSocketOptions } from './types.js'

/** `credentialWebSocket()` with the platform's WebSocket class as the default base. */
export function credentialClass (options: CredentialWebSocketOptions, defaultWebSocket: typeof WebSocket | undefined): CredentialWebSocketClass {
  const { getToken, ticketUrl: ticket, protocols: extra, subprotocolPrefix, WebSocket: Base, fetch: fetchFn } = credentialOptions(options, defaultWebSocket)
  /** the entry `prepare()` fetched for the next socket; used once */
  let prepared: string | undefined

  return class CredentialWebSocket extends Base {
    constructor (url: string | URL, offered?: unknown) {
      let entry = prepared
      prepared = undefined
      if (entry === undefined && ticket !== undefined) throw new TypeError('with ticketUrl, call prepare(url) before each socket (pass url: () => Class.prepare(url))')
      if (entry === undefined && getToken !== undefined) {
        const token = getToken({ reason: 'connect' })
        if (token instanceof Promise) token.catch(() => {})
        if (!isToken(token)) throw new TypeError('getToken() must return a token synchronously here; for an async one, call prepare(url) before each socket')
        entry = subprotocolPrefix + token
      }
      super(url, [...[offered ?? []].flat() as string[], ...extra, ...(entry === undefined ? [] : [entry])])
    }

    static async prepare (url: string | URL): Promise<string> {
      const href = absoluteUrl(url, 'prepare(url): url', 'ws').href
      prepared = await credentialEntry({ getToken, ticketUrl: ticket, path: new URL(href).pathname, subprotocolPrefix, fetch: fetchFn }, 'connect')
      return href
    }
  }
}
