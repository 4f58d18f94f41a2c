// The browser build (and any runtime without the "node" export condition): the global
// WebSocket and fetch, no dependency.
import { open } from './connect.js'
import { credentialClass } from './credential-websocket.js'
import type { ConnectOptions, Connection, CredentialWebSocketClass, CredentialWebSocketOptions } from './types.js'

const globalWebSocket = (): typeof WebSocket | undefined => (globalThis as { WebSocket?: typeof WebSocket }).WebSocket

/**
 * Opens a governed WebSocket and keeps it open: a credential from `getToken()` (or a ticket)
 * in the handshake, in-band refresh on `auth.expiring`, topics re-subscribed, and reconnects
 * that follow the close code. Options are checked at once: a bad one throws a TypeError
 * (`code: 'WSG_INVALID_OPTION'`) and nothing starts.
 */
export function connect (options: ConnectOptions): Connection {
  return open(options, globalWebSocket())
}

/**
 * A WebSocket class that adds the credential entry (`bearer.<token>`, or `ticket.<ticket>`)
 * to each socket's subprotocols: for graphql-ws's `webSocketImpl` and tRPC's
 * `createWSClient({ WebSocket })`.
 */
export function credentialWebSocket (options: CredentialWebSocketOptions): CredentialWebSocketClass {
  return credentialClass(options, globalWebSocket())
}

export { backoffDelay, hintedDelayMs } from './backoff.js'
export { CredentialError } from './credential.js'
export {
  DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_DELAY_MS, DEFAULT_MESSAGES, DEFAULT_PROMPT_JITTER_MS, DEFAULT_RATE_LIMITED_DELAY_MS,
  DEFAULT_STABLE_AFTER_MS, DEFAULT_SUBPROTOCOL_PREFIX, MAX_HINTED_DELAY_MS, TICKET_PREFIX
} from './options.js'
export type * from './types.js'
