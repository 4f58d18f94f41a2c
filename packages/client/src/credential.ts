import { isToken, TICKET_PREFIX } from './options.js'
import type { GetToken, TokenReason } from './types.js'

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
  if (!response.ok) throw new CredentialError(`the ticket request was answered ${response.status}`, response.status)
  let body: { ticket?: unknown } | null = null
  try { body = await response.json() as { ticket?: unknown } | null } catch {}
  return entry(TICKET_PREFIX, body?.ticket, 'the ticket in the answer')
}
