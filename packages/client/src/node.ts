// The Node build (the "node" export condition): `ws` as the WebSocket class, since Node 20
// has no global WebSocket unless flagged. `ws` is an optional peer dependency.
import WsWebSocket from 'ws'
import { open } from './connect.js'
import { credentialClass } from './credential-websocket.js'
import type { ConnectOptions, Connection, CredentialWebSocketClass, CredentialWebSocketOptions } from './types.js'

// ws implements the standard WebSocket interface the client uses (on*, send, close, binaryType).
const Default = WsWebSocket as unknown as typeof WebSocket

/** As in the browser build; the default WebSocket class is `ws`'s. */
export function connect (options: ConnectOptions): Connection {
  return open(options, Default)
}

/** As in the browser build; the default base class is `ws`'s WebSocket. */
export function credentialWebSocket (options: CredentialWebSocketOptions): CredentialWebSocketClass {
  return credentialClass(options, Default)
}

export { backoffDelay, hintedDelayMs } from './backoff.js'
export { CredentialError } from './credential.js'
export {
  DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_DELAY_MS, DEFAULT_MESSAGES, DEFAULT_PROMPT_JITTER_MS, DEFAULT_RATE_LIMITED_DELAY_MS,
  DEFAULT_STABLE_AFTER_MS, DEFAULT_SUBPROTOCOL_PREFIX, MAX_HINTED_DELAY_MS, TICKET_PREFIX
} from './options.js'
export type * from './types.js'
