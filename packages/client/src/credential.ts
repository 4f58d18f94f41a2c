import { isToken, TICKET_PREFIX } from './options.js'
import type { GetToken, TokenReason } from './types.js'

/**
 * The most of a ticket answer read. An answer is `{"ticket":"…","expiresAt":…}`: a ticket is
 * a random id of tens of bytes, or a signed one of a few hundred; 16 KiB is far past either
 * with room for fields a server adds, and small enough that an answer that is not a ticket
 * (an HTML page, a stream that never ends) is refused before it costs any memory to speak of.
 */
const MAX_ANSWER_BYTES = 16_384

/** What a credential needs: where it comes from and how it is written. */
export interface CredentialSource {
  getToken: GetToken | undefined
  ticketUrl: string | undefined
  /** the `path` of a ticket request: the websocket url's pathname */
  path: string
  subprotocolPrefix: string
  fetch: typeof fetch
}

/** A failed credential step. Its message never holds the credential or the server's answer. */
export class CredentialError extends Error {
  /** the ticket endpoint's HTTP status, when it answered with an error */
  readonly status: number | undefined
  constructor (message: string, status?: number) {
    super(message)
    this.name = 'CredentialError'
    this.status = status
  }
}

/** Checks a token or ticket; a value that cannot be a subprotocol entry is refused unread. */
export function entry (prefix: string, value: unknown, what: string): string {
  if (!isToken(value)) throw new CredentialError(`${what} must be a non-empty string of RFC 6455 token characters`)
  return prefix + value
}

/**
 * The subprotocol entry for the next socket: `bearer.<token>` or `ticket.<ticket>`, or
 * `undefined` without getToken and ticketUrl (a cookie carries the credential, if any).
 */
export async function credentialEntry (source: CredentialSource, reason: TokenReason, signal?: AbortSignal): Promise<string | undefined> {
  const token = source.getToken === undefined ? undefined : entry('', await source.getToken({ reason }), 'getToken() result')
  // Timed out or closed while getToken() answered: no ticket request after that.
  signal?.throwIfAborted()
  if (source.ticketUrl === undefined) return token === undefined ? undefined : source.subprotocolPrefix + token
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const response = await source.fetch(source.ticketUrl, {
    method: 'POST',
    headers,
    body: JSON.stringify({ path: source.path }),
    credentials: token === undefined ? 'include' : 'same-origin',
    // Not followed: a redirect could lead the token to a URL never checked (http:, another
    // host), and whether a fetch drops Authorization on the way is the fetch's choice.
    redirect: 'error',
    signal
  })
  // Read by hand, not by response.json(): no more than MAX_ANSWER_BYTES, and cancelled when
  // `signal` aborts. Node 20's fetch tells the body of an abort only through a WeakRef
  // (nodejs/node#55428), and an app's fetch may ignore the signal: a slow or endless answer
  // would be read on, uncapped, after the step gave up.
  const reader = response.body?.getReader()
  // Cancelling ends the read under way (done) and the connection: one listener, not a race per read.
  const stop = (): void => { reader?.cancel().catch(() => {}) }
  signal?.addEventListener('abort', stop)
  const utf8 = new TextDecoder() // as response.json() decodes: UTF-8, a BOM dropped
  let text = ''
  try {
    signal?.throwIfAborted() // aborted before the answer came: the listener would never hear of it
    if (!response.ok) throw new CredentialError(`the ticket request was answered ${response.status}`, response.status)
    // The size the answer states (none: 0, read on), then the bytes read.
    for (let stated = Number(response.headers.get('content-length')), size = 0; ;) {
      if (stated > MAX_ANSWER_BYTES || size > MAX_ANSWER_BYTES) throw new CredentialError('the ticket answer is larger than 16 KiB')
      const { done, value } = await reader?.read() ?? { done: true }
      signal?.throwIfAborted()
      if (done) break
      text += utf8.decode(value, { stream: true })
      size += value.byteLength
    }
  } catch (error) {
    stop()
    throw error
  } finally {
    signal?.removeEventListener('abort', stop)
  }
  let body: { ticket?: unknown } | null | undefined
  try { body = JSON.parse(text + utf8.decode()) as typeof body } catch {}
  return entry(TICKET_PREFIX, body?.ticket, 'the ticket in the answer')
}
