import { invalidOption, isClock, timerDelay, systemClock, type Clock, type ReplayStore, type RevocationStore } from '@wsguard/core'
import type { JwsAlgorithm } from './algorithms.js'
import { bool, duration, isObject, nonEmptyString, positiveInteger, unknownKeys } from './option-checks.js'
import { validateIssuer, DEFAULT_CLOCK_TOLERANCE_MS, KEY_SET_KEYS, type IssuerConfig, type KeySetOptions } from './issuer-options.js'
import { DEFAULT_MAX_TOKEN_BYTES } from './options.js'
import { MemoryReplayStore } from './replay-memory.js'

/** One issuer whose logout tokens are accepted: its keys as auth-handshake finds them, and your client id there. */
export interface LogoutIssuerOptions extends KeySetOptions {
  /** exact `iss` value; discovery reads `<issuer>/.well-known/openid-configuration` */
  issuer: string
  /** your client id(s) at this issuer: the logout token's `aud` must name one */
  audience: string | readonly string[]
  /** JWS algorithms accepted from this issuer (required, no default; `none` and `HS*` cannot be listed) */
  algorithms: readonly JwsAlgorithm[]
}

export interface BackchannelLogoutOptions {
  /** the endpoint's path (your client's `backchannel_logout_uri`). Default '/oidc/backchannel-logout' */
  path?: string
  /** the issuer(s) whose logout tokens are accepted */
  issuers: LogoutIssuerOptions | readonly LogoutIssuerOptions[]
  /** where logouts are revoked: the store session-expiry checks (`stores.revocations` of `@wsguard/redis`). Required */
  revocations: RevocationStore
  /** where used `jti`s are remembered. Default a `MemoryReplayStore` (this process only) */
  replays?: ReplayStore
  /**
   * `'session'`: a token's `sid` revokes that IdP session, its `sub` only when it has no `sid`.
   * `'subject'`: its `sub` revokes every session of the user at that issuer, its `sid` only when it
   * has no `sub` (for access tokens that carry no `sid`). Default 'session'
   */
  revokeBy?: 'session' | 'subject'
  /** refuse logout tokens whose `iat` is older than this, ms. Default 120_000 */
  maxTokenAgeMs?: number
  /** skew allowed on `iat`, `exp` and `nbf`, ms. Default 5_000 */
  clockToleranceMs?: number
  /** refuse logout tokens whose `typ` header is not `logout+jwt` (by default it may also be absent or `JWT`). Default false */
  requireExplicitTyp?: boolean
  /** how long a logout refuses tokens issued before it, ms: at least your longest access token lifetime. Default 86_400_000 */
  revocationRetentionMs?: number
  /** a replay or revocation store that has not answered within this fails the logout (503), ms. Default 2_000 */
  storeTimeoutMs?: number
  /** longest logout token, bytes; the request body may be 1 KB longer. Default 8192 */
  maxTokenBytes?: number
  /**
   * logouts of one user (a token's `iss` and `sub`) this instance keeps in force at once (each
   * for `revocationRetentionMs`); one more is answered 503 and not applied, so one account
   * signing in and out in a loop cannot fill the revocation store for everyone. Default 100
   */
  maxLogoutsPerSubject?: number
  /** time source. Default `Date.now` */
  clock?: Clock
}

export const DEFAULT_LOGOUT_PATH = '/oidc/backchannel-logout'
export const DEFAULT_LOGOUT_MAX_TOKEN_AGE_MS = 120_000
export const DEFAULT_LOGOUT_REVOCATION_RETENTION_MS = 86_400_000
export const DEFAULT_LOGOUT_STORE_TIMEOUT_MS = 2_000
export const DEFAULT_LOGOUT_MAX_PER_SUBJECT = 100
/**
 * Users whose logouts in force `maxLogoutsPerSubject` tracks at once, at most; to track
 * another while it tracks that many (none expired), the user with the fewest logouts in force
 * is forgotten (their count starts again), never the one who signs out in a loop.
 */
export const MAX_LOGOUT_SUBJECTS = 10_000

export interface BackchannelLogoutConfig {
  path: string
  issuers: readonly IssuerConfig[]
  revocations: RevocationStore
  replays: ReplayStore
  revokeBy: 'session' | 'subject'
  maxTokenAgeMs: number
  clockToleranceMs: number
  requireExplicitTyp: boolean
  revocationRetentionMs: number
  storeTimeoutMs: number
  maxTokenBytes: number
  maxLogoutsPerSubject: number
  clock: Clock
}

const OPTION_KEYS = new Set(['path', 'issuers', 'revocations', 'replays', 'revokeBy', 'maxTokenAgeMs', 'clockToleranceMs',
  'requireExplicitTyp', 'revocationRetentionMs', 'storeTimeoutMs', 'maxTokenBytes', 'maxLogoutsPerSubject', 'clock'])
const ISSUER_KEYS = new Set(['issuer', 'audience', 'algorithms', ...KEY_SET_KEYS])
const PATH = /^\/[\x21-\x7e]*$/

function hasMethods (value: unknown, names: readonly string[]): boolean {
  return isObject(value) && names.every((n) => typeof value[n] === 'function')
}

function validateIssuers (value: unknown, toleranceMs: number, maxAgeMs: number): IssuerConfig[] {
  const list = Array.isArray(value) ? value : [value]
  if (value === undefined || list.length === 0) throw invalidOption('opts.issuers must name at least one issuer')
  const seen = new Set<string>()
  return list.map((entry: unknown, i) => {
    const path = Array.isArray(value) ? `opts.issuers[${i}]` : 'opts.issuers'
    if (!isObject(entry)) throw invalidOption(`${path} must be an object`)
    unknownKeys(entry, ISSUER_KEYS, path)
    const config = validateIssuer(entry, path)
    if (seen.has(config.issuer)) throw invalidOption(`opts.issuers: issuer ${JSON.stringify(config.issuer)} is listed twice`)
    seen.add(config.issuer)
    return { ...config, clockToleranceMs: toleranceMs, maxTokenAgeMs: maxAgeMs }
  })
}

/** Validates and copies the options; throws WSG_INVALID_OPTION naming the option path. */
export function validateLogoutOptions (opts: unknown): BackchannelLogoutConfig {
  if (!isObject(opts)) throw invalidOption('opts must be an object')
  unknownKeys(opts, OPTION_KEYS, 'opts')
  const path = opts.path === undefined ? DEFAULT_LOGOUT_PATH : nonEmptyString(opts.path, 'opts.path')
  if (!PATH.test(path)) throw invalidOption('opts.path must start with / and hold no spaces or control characters')
  if (!hasMethods(opts.revocations, ['revoke', 'isRevoked', 'subscribe'])) {
    throw invalidOption('opts.revocations must be a RevocationStore (revoke, isRevoked, subscribe): the one session-expiry checks')
  }
  if (opts.replays !== undefined && !hasMethods(opts.replays, ['claim', 'release'])) {
    throw invalidOption('opts.replays must be a ReplayStore (claim, release)')
  }
  if (opts.revokeBy !== undefined && opts.revokeBy !== 'session' && opts.revokeBy !== 'subject') {
    throw invalidOption("opts.revokeBy must be 'session' or 'subject'")
  }
  if (opts.clock !== undefined && !isClock(opts.clock)) throw invalidOption('opts.clock must be an object with a now() method')
  const clock = (opts.clock as Clock | undefined) ?? systemClock
  const clockToleranceMs = duration(opts.clockToleranceMs, 'opts.clockToleranceMs', DEFAULT_CLOCK_TOLERANCE_MS)
  const maxTokenAgeMs = positiveInteger(opts.maxTokenAgeMs, 'opts.maxTokenAgeMs', DEFAULT_LOGOUT_MAX_TOKEN_AGE_MS)
  return {
    path,
    issuers: validateIssuers(opts.issuers, clockToleranceMs, maxTokenAgeMs),
    revocations: opts.revocations as RevocationStore,
    replays: (opts.replays as ReplayStore | undefined) ?? new MemoryReplayStore({ clock }),
    revokeBy: (opts.revokeBy ?? 'session') as 'session' | 'subject',
    maxTokenAgeMs,
    clockToleranceMs,
    requireExplicitTyp: bool(opts.requireExplicitTyp, 'opts.requireExplicitTyp', false),
    revocationRetentionMs: positiveInteger(opts.revocationRetentionMs, 'opts.revocationRetentionMs', DEFAULT_LOGOUT_REVOCATION_RETENTION_MS),
    storeTimeoutMs: timerDelay(positiveInteger(opts.storeTimeoutMs, 'opts.storeTimeoutMs', DEFAULT_LOGOUT_STORE_TIMEOUT_MS), 'opts.storeTimeoutMs'),
    maxTokenBytes: positiveInteger(opts.maxTokenBytes, 'opts.maxTokenBytes', DEFAULT_MAX_TOKEN_BYTES, 16),
    maxLogoutsPerSubject: positiveInteger(opts.maxLogoutsPerSubject, 'opts.maxLogoutsPerSubject', DEFAULT_LOGOUT_MAX_PER_SUBJECT),
    clock
  }
}
