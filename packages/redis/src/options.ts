import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { invalidOption, timerDelay } from '@wsguard/core'

export const DEFAULT_KEY_PREFIX = 'wsguard:'
export const DEFAULT_COMMAND_TIMEOUT_MS = 1_000
export const DEFAULT_HEARTBEAT_MS = 5_000
export const DEFAULT_HEARTBEAT_TTL_MS = 15_000
export const DEFAULT_STREAM_MAX_LEN = 10_000
export const DEFAULT_BLOCK_MS = 5_000
export const DEFAULT_MAX_COUNTER_KEYS = 100_000
export const DEFAULT_MAX_REVOCATION_RECORDS = 100_000

/** Where Redis is: a URL (the stores open and close their own connections), or a client of yours. */
export type RedisConnection = { url: string } | { client: Redis | Cluster }

/** pino's shape (`app.log` fits); only these two levels are used. */
export interface StoreLogger {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export interface RedisStoresOptions {
  /** every key starts with `{keyPrefix}` (one hash tag, so multi-key commands work on a Cluster). Default 'wsguard:' */
  keyPrefix?: string
  /**
   * while Redis is unreachable (or the revocation mirror has not caught up since): 'fail-closed'
   * makes `isRevoked` and the registry's `count` throw (session-expiry refuses the handshake
   * with 503), 'fail-open' answers from what this instance knows. Default 'fail-closed'
   */
  onUnavailable?: 'fail-closed' | 'fail-open'
  /** a Redis command not answered within this long fails, ms. Default 1000 */
  commandTimeoutMs?: number
  /** how often this instance refreshes its registry entries, ms. Default 5000 */
  heartbeatMs?: number
  /** an instance's registry entries expire this long after its last heartbeat (it died), ms; > heartbeatMs. Default 15000 */
  heartbeatTtlMs?: number
  /** the revocation stream is trimmed to about this many entries (XADD MAXLEN ~). Default 10000 */
  streamMaxLen?: number
  /** how long one XREAD waits for new revocations before asking again, ms. Default 5000 */
  blockMs?: number
  /** where an outage and its end are logged, once each (e.g. `app.log`). Default none */
  logger?: StoreLogger
  /** this instance's name in the registry's keys and in the origin of its revocations. Default a random UUID */
  instance?: string
  /**
   * counter keys kept per window length, all instances together; past it a new key evicts the
   * one counted least recently (telemetry's `maxTrackedKeys` rule, on Redis). Default 100000
   */
  maxCounterKeys?: number
  /**
   * revocation records in force an instance issues one more beside, at most (its mirror's count,
   * which follows Redis's): past it `revoke()` rejects, recording and delivering nothing (a
   * back-channel logout is 503 for its IdP to retry), rather than grow every instance's mirror
   * and Redis without bound. Records from other instances are always applied. Default 100000
   */
  maxRevocationRecords?: number
}

export interface RedisStoresConfig {
  readonly keyPrefix: string
  readonly failOpen: boolean
  readonly commandTimeoutMs: number
  readonly heartbeatMs: number
  readonly heartbeatTtlMs: number
  readonly streamMaxLen: number
  readonly blockMs: number
  readonly logger: StoreLogger | undefined
  readonly instance: string
  readonly maxCounterKeys: number
  readonly maxRevocationRecords: number
}

const KEYS = new Set(['keyPrefix', 'onUnavailable', 'commandTimeoutMs', 'heartbeatMs', 'heartbeatTtlMs', 'streamMaxLen', 'blockMs', 'logger', 'instance', 'maxCounterKeys', 'maxRevocationRecords'])
const NAME = /^[A-Za-z0-9_.:\-/]{1,64}$/

function integer (value: unknown, path: string, fallback: number, min: number, unit = ' (ms)'): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || (value as number) < min) throw invalidOption(`${path} must be an integer ≥ ${min}${unit}`)
  return value as number
}

function isClient (value: unknown): boolean {
  const c = value as Record<string, unknown> | null
  return typeof c === 'object' && c !== null && typeof c.duplicate === 'function' && typeof c.evalsha === 'function' && typeof c.options === 'object' && c.options !== null
}

/** Whether an ioredis client (a Redis, or a Cluster by its own or its nodes' options) adds a prefix to every key. */
function prefixesKeys (client: unknown): boolean {
  const options = (client as { options: { keyPrefix?: unknown, redisOptions?: { keyPrefix?: unknown } } }).options
  return [options.keyPrefix, options.redisOptions?.keyPrefix].some((p) => typeof p === 'string' && p !== '')
}

/** Checks the connection once, at construction; every message names the option. */
export function validateConnection (connection: unknown): RedisConnection {
  if (typeof connection !== 'object' || connection === null) throw invalidOption('connection must be { url } or { client }')
  const c = connection as Record<string, unknown>
  const keys = Object.keys(c)
  if (keys.length === 1 && keys[0] === 'url') {
    if (typeof c.url !== 'string' || !/^rediss?:\/\//.test(c.url) || !URL.canParse(c.url)) throw invalidOption('connection.url must be a redis:// or rediss:// URL')
    // ioredis takes the URL's query as client options: a keyPrefix there prefixes keys as a client's would.
    if ([...new URL(c.url).searchParams.keys()].some((k) => k.toLowerCase() === 'keyprefix')) {
      throw invalidOption('connection.url must not set ioredis\'s keyPrefix (the scripts name keys it would not prefix): use opts.keyPrefix')
    }
    return { url: c.url }
  }
  if (keys.length === 1 && keys[0] === 'client') {
    if (!isClient(c.client)) throw invalidOption('connection.client must be an ioredis Redis or Cluster')
    // ioredis prefixes a script's KEYS, but the registry's scripts name each instance's keys
    // from ARGV: with a prefix they would read keys that do not exist (the cap counting 0).
    if (prefixesKeys(c.client)) {
      throw invalidOption('connection.client must not set ioredis\'s keyPrefix (the scripts name keys it would not prefix): use opts.keyPrefix')
    }
    return { client: c.client as Redis | Cluster }
  }
  throw invalidOption('connection must be { url } or { client }, not both')
}

/** Checks the options once, at construction; every message names the option. */
export function validateOptions (opts: unknown): RedisStoresConfig {
  if (opts === undefined) opts = {}
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('opts must be an object')
  for (const key of Object.keys(opts)) {
    if (!KEYS.has(key)) throw invalidOption(`opts.${key} is not an option of @wsguard/redis`)
  }
  const o = opts as Record<string, unknown>
  if (o.keyPrefix !== undefined && (typeof o.keyPrefix !== 'string' || !NAME.test(o.keyPrefix))) {
    throw invalidOption('opts.keyPrefix must be 1–64 letters, digits and _ . : - / (no braces: it becomes the hash tag)')
  }
  if (o.onUnavailable !== undefined && o.onUnavailable !== 'fail-closed' && o.onUnavailable !== 'fail-open') {
    throw invalidOption("opts.onUnavailable must be 'fail-closed' or 'fail-open'")
  }
  const logger = o.logger as Record<string, unknown> | undefined
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function' || typeof logger.info !== 'function')) {
    throw invalidOption('opts.logger must have warn(obj, msg) and info(obj, msg) (pino, e.g. app.log)')
  }
  if (o.instance !== undefined && (typeof o.instance !== 'string' || !NAME.test(o.instance))) {
    throw invalidOption('opts.instance must be 1–64 letters, digits and _ . : - /')
  }
  const heartbeatMs = timerDelay(integer(o.heartbeatMs, 'opts.heartbeatMs', DEFAULT_HEARTBEAT_MS, 10), 'opts.heartbeatMs')
  const heartbeatTtlMs = integer(o.heartbeatTtlMs, 'opts.heartbeatTtlMs', Math.max(DEFAULT_HEARTBEAT_TTL_MS, 3 * heartbeatMs), 20)
  if (heartbeatTtlMs <= heartbeatMs) throw invalidOption('opts.heartbeatTtlMs must be greater than opts.heartbeatMs')
  const commandTimeoutMs = timerDelay(integer(o.commandTimeoutMs, 'opts.commandTimeoutMs', DEFAULT_COMMAND_TIMEOUT_MS, 1), 'opts.commandTimeoutMs')
  // A stream read waits blockMs in Redis, and this process's timer blockMs + commandTimeoutMs.
  const blockMs = timerDelay(integer(o.blockMs, 'opts.blockMs', DEFAULT_BLOCK_MS, 10), 'opts.blockMs')
  timerDelay(blockMs + commandTimeoutMs, 'opts.blockMs + opts.commandTimeoutMs')
  return Object.freeze({
    keyPrefix: (o.keyPrefix ?? DEFAULT_KEY_PREFIX) as string,
    failOpen: o.onUnavailable === 'fail-open',
    commandTimeoutMs,
    heartbeatMs,
    heartbeatTtlMs,
    streamMaxLen: integer(o.streamMaxLen, 'opts.streamMaxLen', DEFAULT_STREAM_MAX_LEN, 100, ''),
    blockMs,
    logger: logger as StoreLogger | undefined,
    instance: (o.instance ?? randomUUID()) as string,
    maxCounterKeys: integer(o.maxCounterKeys, 'opts.maxCounterKeys', DEFAULT_MAX_COUNTER_KEYS, 1, ''),
    maxRevocationRecords: integer(o.maxRevocationRecords, 'opts.maxRevocationRecords', DEFAULT_MAX_REVOCATION_RECORDS, 1, '')
  })
}
