import type { FastifyRequest } from 'fastify'
import { invalidOption, isTimerClock, systemTimerClock, timerDelay, type AuthOutcome, type RevocationStore, type SessionRegistry, type TimerClock } from '@wsguard/core'

export const DEFAULT_NOTICE_MS = 60_000
export const DEFAULT_GRACE_MS = 5_000
export const DEFAULT_MAX_LIFETIME_MS = 8 * 3_600_000
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000
export const DEFAULT_HEARTBEAT_MS = 30_000
export const DEFAULT_REFRESH_LIMIT = Object.freeze({ max: 5, windowMs: 60_000 })
export const DEFAULT_MAX_CONTROL_FRAME_BYTES = 16_384
export const DEFAULT_REVOCATION_RETENTION_MS = 24 * 3_600_000
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000
export const DEFAULT_REVOCATION_TIMEOUT_MS = 2_000
export const DEFAULT_REFRESH_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_SESSIONS_RETRY_AFTER_MS = 30_000
export const DEFAULT_REALM = 'wsguard'
export const DEFAULT_MIN_REMAINING_MS = 1_000
export const DEFAULT_SHUTDOWN: ShutdownOrder = 'first'
/**
 * Subprotocols whose every message the framework defines, and which therefore take no control
 * frame: graphql-ws's `graphql-transport-ws`, and `graphql-ws` (subscriptions-transport-ws,
 * mercurius's legacy protocol). A graphql-ws client closes itself 4004 on a message it does
 * not know.
 */
export const BUILT_IN_CLOSED_SUBPROTOCOLS: readonly string[] = Object.freeze(['graphql-transport-ws', 'graphql-ws'])

/**
 * When shutdown closes the sessions: `'first'`, before any `preClose` hook (every session
 * gets 1001 before @fastify/websocket's default `preClose` closes its clients with no code);
 * `'after-preclose'`, after the `preClose` hooks, so the app's own `preClose` (given to
 * @fastify/websocket) says its goodbye first and sessions still open then get 1001.
 */
export type ShutdownOrder = 'first' | 'after-preclose'
export const DEFAULT_MESSAGES: Readonly<ControlMessageNames> = Object.freeze({
  expiring: 'auth.expiring',
  refresh: 'auth.refresh',
  refreshed: 'auth.refreshed',
  refreshFailed: 'auth.refresh_failed',
  topicRevoked: 'topic.revoked'
})

/** The `type` of each control message. */
export interface ControlMessageNames {
  /** server → client, ahead of the deadline */
  expiring: string
  /** client → server, with a fresh token */
  refresh: string
  /** server → client, the refresh was accepted */
  refreshed: string
  /** server → client, the refresh was refused, with its code */
  refreshFailed: string
  /** server → client, a topic the new principal may no longer hold */
  topicRevoked: string
}

/** Checks a refresh token; the default is `fastify.wsguardAuth.authenticate` (auth-handshake). */
export type RefreshAuthenticator = (token: string, request: FastifyRequest) => Promise<AuthOutcome>

export interface SessionExpiryOptions {
  /** send `auth.expiring` this long before the credential expires, ms. Default 60000 */
  noticeMs?: number
  /** after the credential expires, wait this long for a refresh before closing 4401, ms. Default 5000 */
  graceMs?: number
  /** absolute cap on a session, whatever the credential says (close 4409), ms; 0 for none. Default 28800000 (8 h) */
  maxLifetimeMs?: number
  /** close 4408 after this long without a data frame either way (a refused refresh does not count), ms; 0 for none. Default 300000 */
  idleTimeoutMs?: number
  /** ping this often, with a random tag; a peer that leaves two pings in a row unanswered (no pong echoing the tag) is terminated 4408, ms; 0 for none. Default 30000 */
  heartbeatMs?: number
  /** accept `{"type":"auth.refresh","token":…}` in-band; with false such a frame is answered `auth.refresh_failed` `WSG_BAD_REQUEST`, never handed to the app. Default true */
  refresh?: boolean
  /** refresh attempts allowed per session per window. Default `{ max: 5, windowMs: 60000 }` */
  refreshLimit?: { max: number, windowMs: number }
  /** checks a refresh token with the route's handshake rules. Default `fastify.wsguardAuth.authenticate` */
  authenticate?: RefreshAuthenticator
  /** how long `authenticate` may take with a refresh's token, and then the route's handshake checks, before the refresh is refused (WSG_UNAVAILABLE), ms. Default 10000 */
  refreshTimeoutMs?: number
  /** names of the control messages' `type`. Default `auth.expiring`, `auth.refresh`, `auth.refreshed`, `auth.refresh_failed`, `topic.revoked` */
  messages?: Partial<ControlMessageNames>
  /** refresh messages are parsed only up to this size; a larger frame that holds the refresh `type` member closes 4400, bytes. Default 16384 */
  maxControlFrameBytes?: number
  /** where open sessions are listed. Default in memory */
  registry?: SessionRegistry
  /** where revocations are kept and broadcast. Default in memory */
  revocations?: RevocationStore
  /** how long a subject, session or issuer revocation refuses older tokens, ms. Default 86400000 (24 h) */
  revocationRetentionMs?: number
  /** how long an asynchronous revocation store (or the registry's count, for the cap) may take to answer before the handshake or refresh is refused (503 / WSG_UNAVAILABLE), ms. Default 2000 */
  revocationTimeoutMs?: number
  /**
   * at most this many open sessions per principal (same issuer and subject), counted across
   * the registry (every instance's with a shared one); the next handshake gets 429
   * WSG_RATE_LIMITED with Retry-After. 0 for no cap. Default 0
   */
  maxSessionsPerPrincipal?: number
  /** the Retry-After sent with a handshake over `maxSessionsPerPrincipal`, ms (sent in whole seconds). Default 30000 */
  maxSessionsRetryAfterMs?: number
  /** how long a client has to answer any close the plugin starts (4401, 4403, 4408, 4409, 1001 on shutdown) before it is cut off, ms. Default 5000 */
  closeTimeoutMs?: number
  /** `realm` of the challenge sent with 401 WSG_TOKEN_REVOKED. Default 'wsguard' */
  realm?: string
  /**
   * subprotocols that take no control frame, added to the built-in `graphql-transport-ws` and
   * `graphql-ws`: on a socket that negotiated one, no `auth.*`/`topic.revoked` frame is sent
   * and none is read (every frame is the app's); expiry still closes 4401. Default []
   */
  closedSubprotocols?: readonly string[]
  /**
   * a handshake whose credential expires within this long, or has already expired (a verifier
   * accepts a token up to its clock tolerance past `exp`), is refused 401 WSG_TOKEN_EXPIRED
   * before the upgrade instead of being opened to be closed 4401; a refresh to such a
   * credential is refused alike; ms. Default 1000
   */
  minRemainingMs?: number
  /** when shutdown closes the sessions: before every `preClose` hook, or after them. Default 'first' */
  shutdown?: ShutdownOrder
  /** time and timers (one timer for all sessions). Default the system clock */
  clock?: TimerClock
}

export interface SessionExpiryConfig {
  readonly noticeMs: number
  readonly graceMs: number
  readonly maxLifetimeMs: number
  readonly idleTimeoutMs: number
  readonly heartbeatMs: number
  readonly refresh: boolean
  readonly refreshLimit: { readonly max: number, readonly windowMs: number }
  readonly authenticate: RefreshAuthenticator | undefined
  readonly refreshTimeoutMs: number
  readonly messages: ControlMessageNames
  readonly maxControlFrameBytes: number
  readonly registry: SessionRegistry | undefined
  readonly revocations: RevocationStore | undefined
  readonly revocationRetentionMs: number
  readonly revocationTimeoutMs: number
  readonly maxSessionsPerPrincipal: number
  readonly maxSessionsRetryAfterMs: number
  readonly closeTimeoutMs: number
  readonly realm: string
  /** the built-in closed subprotocols and the app's */
  readonly closedSubprotocols: ReadonlySet<string>
  readonly minRemainingMs: number
  readonly shutdown: ShutdownOrder
  readonly clock: TimerClock
}

const KEYS = new Set(['noticeMs', 'graceMs', 'maxLifetimeMs', 'idleTimeoutMs', 'heartbeatMs', 'refresh', 'refreshLimit', 'authenticate', 'refreshTimeoutMs', 'messages', 'maxControlFrameBytes', 'registry', 'revocations', 'revocationRetentionMs', 'revocationTimeoutMs', 'maxSessionsPerPrincipal', 'maxSessionsRetryAfterMs', 'closeTimeoutMs', 'realm', 'closedSubprotocols', 'minRemainingMs', 'shutdown', 'clock'])
const MESSAGE_NAME = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/
const REALM = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/
/** RFC 6455: a subprotocol is an RFC 7230 token */
const SUBPROTOCOL = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

function closedSubprotocols (value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set(BUILT_IN_CLOSED_SUBPROTOCOLS)
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && SUBPROTOCOL.test(v))) {
    throw invalidOption('opts.closedSubprotocols must be an array of subprotocol names (RFC 7230 tokens)')
  }
  return new Set([...BUILT_IN_CLOSED_SUBPROTOCOLS, ...(value as string[])])
}

function duration (value: unknown, path: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || (value as number) < min) throw invalidOption(`${path} must be an integer ≥ ${min} (ms)`)
  return value as number
}

function sessionCap (value: unknown): number {
  if (value === undefined) return 0
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalidOption('opts.maxSessionsPerPrincipal must be an integer ≥ 0 (0 for no cap)')
  return value as number
}

function hasMethods (value: unknown, names: readonly string[]): boolean {
  return typeof value === 'object' && value !== null && names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function')
}

/** Checks the plugin's options once, at registration; every message names the option. */
export function validateOptions (opts: unknown): SessionExpiryConfig {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('opts must be an object')
  for (const key of Object.keys(opts)) {
    if (!KEYS.has(key)) throw invalidOption(`opts.${key} is not an option of @wsguard/session-expiry`)
  }
  const o = opts as Record<string, unknown>
  if (o.refresh !== undefined && typeof o.refresh !== 'boolean') throw invalidOption('opts.refresh must be a boolean')
  let refreshLimit: { readonly max: number, readonly windowMs: number } = DEFAULT_REFRESH_LIMIT
  if (o.refreshLimit !== undefined) {
    const l = o.refreshLimit as Record<string, unknown>
    if (typeof l !== 'object' || l === null || Object.keys(l).some((k) => k !== 'max' && k !== 'windowMs')) {
      throw invalidOption('opts.refreshLimit must be { max, windowMs }')
    }
    refreshLimit = Object.freeze({ max: duration(l.max, 'opts.refreshLimit.max', DEFAULT_REFRESH_LIMIT.max, 1), windowMs: duration(l.windowMs, 'opts.refreshLimit.windowMs', DEFAULT_REFRESH_LIMIT.windowMs, 1) })
  }
  if (o.authenticate !== undefined && typeof o.authenticate !== 'function') throw invalidOption('opts.authenticate must be a function (token, request) => Promise<AuthOutcome>')
  const messages: ControlMessageNames = { ...DEFAULT_MESSAGES }
  if (o.messages !== undefined) {
    if (typeof o.messages !== 'object' || o.messages === null) throw invalidOption('opts.messages must be an object')
    for (const [k, v] of Object.entries(o.messages)) {
      if (!Object.hasOwn(DEFAULT_MESSAGES, k)) throw invalidOption(`opts.messages.${k} is not a control message`)
      if (typeof v !== 'string' || !MESSAGE_NAME.test(v)) throw invalidOption(`opts.messages.${k} must be a name of 1–64 letters, digits, _ . : -`)
      messages[k as keyof ControlMessageNames] = v
    }
    if (new Set(Object.values(messages)).size !== Object.keys(messages).length) throw invalidOption('opts.messages must name every control message differently')
  }
  if (o.registry !== undefined && !hasMethods(o.registry, ['add', 'update', 'remove', 'list'])) throw invalidOption('opts.registry must implement SessionRegistry (add, update, remove, list)')
  if (o.revocations !== undefined && !hasMethods(o.revocations, ['revoke', 'isRevoked', 'subscribe'])) throw invalidOption('opts.revocations must implement RevocationStore (revoke, isRevoked, subscribe)')
  if (o.realm !== undefined && (typeof o.realm !== 'string' || !REALM.test(o.realm))) throw invalidOption('opts.realm must be printable ASCII without quotes or backslashes')
  if (o.shutdown !== undefined && o.shutdown !== 'first' && o.shutdown !== 'after-preclose') throw invalidOption("opts.shutdown must be 'first' or 'after-preclose'")
  if (o.clock !== undefined && !isTimerClock(o.clock)) throw invalidOption('opts.clock must implement TimerClock (now, setTimer, clearTimer)')
  const config: SessionExpiryConfig = {
    noticeMs: duration(o.noticeMs, 'opts.noticeMs', DEFAULT_NOTICE_MS, 0),
    graceMs: duration(o.graceMs, 'opts.graceMs', DEFAULT_GRACE_MS, 0),
    maxLifetimeMs: duration(o.maxLifetimeMs, 'opts.maxLifetimeMs', DEFAULT_MAX_LIFETIME_MS, 0),
    idleTimeoutMs: duration(o.idleTimeoutMs, 'opts.idleTimeoutMs', DEFAULT_IDLE_TIMEOUT_MS, 0),
    heartbeatMs: duration(o.heartbeatMs, 'opts.heartbeatMs', DEFAULT_HEARTBEAT_MS, 0),
    refresh: (o.refresh ?? true) as boolean,
    refreshLimit,
    authenticate: o.authenticate as RefreshAuthenticator | undefined,
    refreshTimeoutMs: timerDelay(duration(o.refreshTimeoutMs, 'opts.refreshTimeoutMs', DEFAULT_REFRESH_TIMEOUT_MS, 1), 'opts.refreshTimeoutMs'),
    messages: Object.freeze(messages),
    maxControlFrameBytes: duration(o.maxControlFrameBytes, 'opts.maxControlFrameBytes', DEFAULT_MAX_CONTROL_FRAME_BYTES, 64),
    registry: o.registry as SessionRegistry | undefined,
    revocations: o.revocations as RevocationStore | undefined,
    revocationRetentionMs: duration(o.revocationRetentionMs, 'opts.revocationRetentionMs', DEFAULT_REVOCATION_RETENTION_MS, 1),
    revocationTimeoutMs: timerDelay(duration(o.revocationTimeoutMs, 'opts.revocationTimeoutMs', DEFAULT_REVOCATION_TIMEOUT_MS, 1), 'opts.revocationTimeoutMs'),
    maxSessionsPerPrincipal: sessionCap(o.maxSessionsPerPrincipal),
    maxSessionsRetryAfterMs: duration(o.maxSessionsRetryAfterMs, 'opts.maxSessionsRetryAfterMs', DEFAULT_MAX_SESSIONS_RETRY_AFTER_MS, 1000),
    closeTimeoutMs: timerDelay(duration(o.closeTimeoutMs, 'opts.closeTimeoutMs', DEFAULT_CLOSE_TIMEOUT_MS, 0), 'opts.closeTimeoutMs'),
    realm: (o.realm ?? DEFAULT_REALM) as string,
    closedSubprotocols: closedSubprotocols(o.closedSubprotocols),
    minRemainingMs: duration(o.minRemainingMs, 'opts.minRemainingMs', DEFAULT_MIN_REMAINING_MS, 0),
    shutdown: (o.shutdown ?? DEFAULT_SHUTDOWN) as ShutdownOrder,
    clock: (o.clock ?? systemTimerClock) as TimerClock
  }
  return Object.freeze(config)
}
