import fp from 'fastify-plugin'
import type { EventEmitter } from 'node:events'
import type { Principal, SessionInfo } from '@wsguard/core'
import { sessionExpiryPlugin, type WsSessions } from './plugin.js'
import type { SessionEvents } from './session.js'

export type { WsSessions } from './plugin.js'
export type { RevokeOptions } from './filter.js'
export type { SessionEvents } from './session.js'
export type { SessionExpiryOptions, RefreshAuthenticator, ControlMessageNames, ShutdownOrder } from './options.js'
export {
  DEFAULT_NOTICE_MS, DEFAULT_GRACE_MS, DEFAULT_MAX_LIFETIME_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_HEARTBEAT_MS,
  DEFAULT_REFRESH_LIMIT, DEFAULT_MAX_CONTROL_FRAME_BYTES, DEFAULT_REVOCATION_RETENTION_MS, DEFAULT_REVOCATION_TIMEOUT_MS, DEFAULT_REFRESH_TIMEOUT_MS, DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_MAX_SESSIONS_RETRY_AFTER_MS, DEFAULT_MIN_REMAINING_MS, DEFAULT_SHUTDOWN, BUILT_IN_CLOSED_SUBPROTOCOLS,
  DEFAULT_REALM, DEFAULT_MESSAGES
} from './options.js'
export { MemorySessionRegistry, MemoryRevocationStore, DEFAULT_MAX_REVOCATION_RECORDS, type MemoryRevocationStoreOptions } from './memory.js'
export type { PrincipalRef, SessionFilter, SessionInfo, SessionRegistry, Revocation, RevocationOrigin, RevocationStore, TimerClock } from '@wsguard/core'

/** `request.wsSession`: the open socket's session. */
export interface WsSession extends EventEmitter<SessionEvents> {
  /** this connection's id, unique per socket */
  readonly id: string
  /** the route pattern */
  readonly route: string
  /** the current principal (replaced by each successful refresh); `null` without authentication */
  readonly principal: Principal | null
  /** ms since epoch */
  readonly openedAt: number
  /** when the credential expires, ms since epoch */
  readonly expiresAt: number | undefined
  /** when the socket will be closed unless refreshed: expiry + grace, or the lifetime cap */
  readonly deadline: number
  /** true once a close has begun */
  readonly closed: boolean
  /**
   * false when the socket negotiated a closed subprotocol (`graphql-transport-ws`,
   * `graphql-ws`, `closedSubprotocols`): no control frame is sent or read on it; the events
   * (`expiring`, …) still fire
   */
  readonly controlFrames: boolean
  /** topics the client holds (topic → the actions it holds on it), each re-checked with `request.authorizeTopic` after a refresh */
  readonly topics: ReadonlyMap<string, ReadonlySet<string>>
  /** remembers that the client holds `action` (default `'subscribe'`) on `topic`; several actions per topic are kept apart */
  trackTopic(topic: string, action?: string): void
  /** forgets `action` on `topic`, or every action on it without one */
  untrackTopic(topic: string, action?: string): void
  info(): SessionInfo
  /** closes the socket with a code and a reason (never put a credential in it) */
  close(code: number, reason: string): void
}

declare module '@wsguard/core' {
  interface WsguardRequestParts {
    /** types `sessionOf(raw)` */
    session: WsSession
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** session-expiry: `false` opts this websocket route out */
    session?: false
  }
  interface FastifyRequest {
    /** set by session-expiry once the socket is open; `null` before and on opted-out routes */
    wsSession: WsSession
  }
  interface FastifyInstance {
    wsSessions: WsSessions
  }
}

/**
 * Keeps an open WebSocket under the control that granted it: closes it when the credential
 * ages out (unless refreshed in-band), at a lifetime cap, when idle or silent, and at once
 * on revocation.
 */
export const sessionExpiry = fp(sessionExpiryPlugin, {
  fastify: '5.x',
  name: '@wsguard/session-expiry',
  dependencies: ['@fastify/websocket']
})

export default sessionExpiry
