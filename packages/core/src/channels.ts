import diagnostics from 'node:diagnostics_channel'
import type { Principal } from './principal.js'
import type { RevocationOrigin } from './sessions.js'
import { performance } from 'node:perf_hooks'
import { errorInfo, type WsguardErrorCode } from './errors.js'

/**
 * Names of the `node:diagnostics_channel` channels the plugins publish on. Telemetry
 * (or any app) subscribes; with no subscriber a publisher checks `hasSubscribers`
 * and builds nothing.
 */
export const ChannelName = Object.freeze({
  handshakeAuthenticated: 'wsguard:handshake:authenticated',
  handshakeRejected: 'wsguard:handshake:rejected',
  sessionOpened: 'wsguard:session:opened',
  sessionExpiring: 'wsguard:session:expiring',
  sessionRefreshed: 'wsguard:session:refreshed',
  sessionRefreshFailed: 'wsguard:session:refresh_failed',
  sessionRevoked: 'wsguard:session:revoked',
  sessionClosed: 'wsguard:session:closed',
  topicDecision: 'wsguard:topic:decision'
} as const)

export type ChannelName = typeof ChannelName[keyof typeof ChannelName]

/**
 * Which app published a message: one symbol per Fastify app (per `fastify.server`, the same
 * object in every encapsulated context of one app), from `appIdentity`. Channels are
 * process-wide, so two Fastify apps in one process hear each other; a subscriber compares a
 * message's `app` with `appIdentity(fastify)` to keep to its own. A symbol, so a message
 * logged as JSON carries nothing of the server (its TLS options hold keys).
 */
export type AppIdentity = symbol

const identities = new WeakMap<object, AppIdentity>()

/** The identity of the app a Fastify instance (any of its contexts) belongs to. */
export function appIdentity (fastify: { readonly server: object }): AppIdentity {
  let id = identities.get(fastify.server)
  if (id === undefined) identities.set(fastify.server, id = Symbol('wsguard app'))
  return id
}

/** The longest Origin a message carries: the longest valid one (a scheme, a 253-character host, a port) fits. */
export const MAX_PUBLISHED_ORIGIN = 300

/**
 * The Origin header as messages carry it. The client chooses it, repeated headers are joined
 * into one, and it ends up in audit logs: past `MAX_PUBLISHED_ORIGIN` characters it is cut
 * (and ends with `…`), so a refused handshake cannot write kilobytes into the log.
 */
export function publishedOrigin (origin: string | undefined): string | undefined {
  return origin === undefined || origin.length <= MAX_PUBLISHED_ORIGIN ? origin : `${origin.slice(0, MAX_PUBLISHED_ORIGIN)}…`
}

/** What every handshake message says of the request; never a header value or a credential. */
export interface HandshakeContext {
  /** the app that published it (see `AppIdentity`) */
  app: AppIdentity
  /** route pattern (e.g. `/ws/orders/:tenant`), never the raw URL */
  route: string
  remoteAddress: string
  origin?: string
}

export interface HandshakeAuthenticatedMessage extends HandshakeContext {
  principal: Principal
  /** time spent in auth-handshake, ms (high resolution) */
  durationMs: number
}

export interface HandshakeRejectedMessage extends HandshakeContext {
  /** plugin that rejected, e.g. `@wsguard/auth-handshake` */
  source: string
  code: WsguardErrorCode
  statusCode: number
  /** a fixed word saying which check failed (e.g. `audience`, `signature`); never credential content */
  detail?: string
  /** present only when the identity had been verified before the rejection */
  principal?: Principal
  durationMs: number
}

export interface SessionMessage {
  /** the app that published it (see `AppIdentity`) */
  app: AppIdentity
  /** the connection's id (`request.wsSession.id`) */
  sessionId: string
  route: string
  /** `null` on a route without authentication */
  principal: Principal | null
}

export interface SessionOpenedMessage extends SessionMessage { openedAt: number, deadline: number, remoteAddress: string, origin?: string }
export interface SessionExpiringMessage extends SessionMessage { expiresAt: number, deadline: number }
export interface SessionRefreshedMessage extends SessionMessage { principal: Principal, previousExpiresAt?: number, expiresAt?: number }
export interface SessionRefreshFailedMessage extends SessionMessage { code: WsguardErrorCode }
export interface SessionRevokedMessage extends SessionMessage {
  by: 'subject' | 'sessionId' | 'tokenId' | 'issuer'
  /** where the revocation came from (the issuing instance, who asked, why), when it says */
  revocation?: RevocationOrigin
}
export interface SessionClosedMessage extends SessionMessage {
  closeCode: number
  /**
   * who began the close: `'server'` when session-expiry closed the session (expiry, revocation,
   * idle, lifetime, a malformed control message, shutdown, or the app through
   * `wsSession.close`), `'peer'` otherwise (the client, or the socket closed under the session).
   * A client can send any close code and reason, wsguard's own included.
   */
  closedBy: 'server' | 'peer'
  /** when a revocation closed the session (4403): where it came from, when it says */
  revocation?: RevocationOrigin
  reason: string
  openedAt: number
  closedAt: number
  framesIn: number
  framesOut: number
}

/**
 * Why topic-authz denied. `unknown-action`: the action is not one of the plugin's `actions`
 * (a client-chosen string is never a metric label or a log field).
 */
export type TopicDenyReason =
  | 'no-rule' | 'missing-scope' | 'claim-mismatch' | 'predicate' | 'stale-auth' | 'invalid-topic' | 'unknown-action'

export interface TopicDecisionMessage {
  /** the app that published it (see `AppIdentity`) */
  app: AppIdentity
  route?: string
  /** one of the plugin's configured actions, or `[unknown]` for any other (never the string as asked) */
  action: string
  allow: boolean
  /** the pattern of the rule that allowed */
  rule?: string
  reason?: TopicDenyReason
  /** true in shadow mode: `allow` is the policy's verdict, which was not enforced */
  shadow: boolean
  /** `null` on a route without authentication */
  principal: Principal | null
  topic: string
  /** when decided for a request (not through `app.topicAuthz.authorize`) */
  remoteAddress?: string
  /** session-expiry's connection id, when session-expiry is registered */
  sessionId?: string
}

export interface ChannelMessages {
  'wsguard:handshake:authenticated': HandshakeAuthenticatedMessage
  'wsguard:handshake:rejected': HandshakeRejectedMessage
  'wsguard:session:opened': SessionOpenedMessage
  'wsguard:session:expiring': SessionExpiringMessage
  'wsguard:session:refreshed': SessionRefreshedMessage
  'wsguard:session:refresh_failed': SessionRefreshFailedMessage
  'wsguard:session:revoked': SessionRevokedMessage
  'wsguard:session:closed': SessionClosedMessage
  'wsguard:topic:decision': TopicDecisionMessage
}

export interface TypedChannel<M> {
  readonly name: string
  readonly hasSubscribers: boolean
  publish(message: M): void
  subscribe(listener: (message: M, name: string | symbol) => void): void
  unsubscribe(listener: (message: M, name: string | symbol) => void): boolean
}

/** The channel of a name, typed with its message. */
export function channel<N extends ChannelName> (name: N): TypedChannel<ChannelMessages[N]> {
  return diagnostics.channel(name) as unknown as TypedChannel<ChannelMessages[N]>
}

/** What a handshake rejection message needs of the request. */
export interface RejectedRequest {
  /** the Fastify instance of the request's route (for `appIdentity`) */
  readonly server: { readonly server: object }
  readonly ip: string
  readonly headers: { readonly origin?: string | undefined }
}

const handshakeRejected = channel(ChannelName.handshakeRejected)

/**
 * Publishes a refused handshake on `wsguard:handshake:rejected`, building nothing when
 * nobody listens. `started` is `performance.now()` when the check began (0: not timed).
 */
export function publishRejection (
  source: string, request: RejectedRequest, route: string, code: WsguardErrorCode, started: number,
  detail?: string, principal?: Principal | null
): void {
  if (!handshakeRejected.hasSubscribers) return
  handshakeRejected.publish({
    app: appIdentity(request.server),
    source,
    code,
    statusCode: errorInfo(code).status,
    route,
    remoteAddress: request.ip,
    ...(request.headers.origin !== undefined ? { origin: publishedOrigin(request.headers.origin) } : {}),
    ...(detail !== undefined ? { detail } : {}),
    ...(principal !== undefined && principal !== null ? { principal } : {}),
    durationMs: started === 0 ? 0 : performance.now() - started
  })
}
