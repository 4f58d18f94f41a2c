import { createHash } from 'node:crypto'
import type { WindowCounter, WindowCounts } from '@wsguard/core'
import type { RedisStoresConfig } from './options.js'
import { Script, timed, type Client, type Health, type Keys } from './redis.js'

/**
 * Counts `amount` events in the current fixed window of one key (a hash: a field per window
 * index), on Redis's clock, so every instance counts into the same windows whatever its own
 * clock says. Fields older than the previous window are dropped, and the key expires two
 * windows after its last event. The counters of one window length are listed in a sorted set
 * by their last event (entries of expired ones dropped): past `max`, a new key first evicts
 * the least recently counted. KEYS the counter, the sorted set; ARGV windowMs, amount, max,
 * the counter's member name, the prefix of counter keys.
 * Returns current, previous, the window's start and the ms elapsed in it.
 */
const HIT = new Script(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local w = tonumber(ARGV[1])
local index = math.floor(now / w)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 2 * w)
if not redis.call('ZSCORE', KEYS[2], ARGV[4]) then
  local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3]) + 1
  if over > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[2], over)
    for i = 1, #popped, 2 do redis.call('DEL', ARGV[5] .. popped[i]) end
  end
end
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[2], 2 * w)
local current = redis.call('HINCRBY', KEYS[1], string.format('%d', index), ARGV[2])
local previous = tonumber(redis.call('HGET', KEYS[1], string.format('%d', index - 1))) or 0
if redis.call('HLEN', KEYS[1]) > 2 then
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if tonumber(field) < index - 1 then redis.call('HDEL', KEYS[1], field) end
  end
end
redis.call('PEXPIRE', KEYS[1], 2 * w)
return { current, previous, index * w, now - index * w }
`)

/** The longest key kept as it is in a Redis key name; longer ones (or with other characters) are hashed. */
export const MAX_RAW_COUNTER_KEY = 64
/** Commands a counter leaves unanswered at most; past it, it answers as if Redis were unreachable. */
export const MAX_PENDING_COUNTS = 1_000

const RAW = /^[\x21-\x7e ]*$/

/**
 * A counter key as a Redis key name: as it is (`=` + key) when short and printable, else its
 * SHA-256 (`#` + base64url): bounded, whatever a principal's issuer and subject hold.
 */
export function counterField (key: string): string {
  return key.length <= MAX_RAW_COUNTER_KEY && RAW.test(key)
    ? `=${key}`
    : `#${createHash('sha256').update(key).digest('base64url')}`
}

/**
 * `@wsguard/core`'s `WindowCounter` on Redis, for telemetry's storm gates and failure-spike
 * detector across instances: one script per count (one round trip), atomic, on Redis's
 * clock; every key under the prefix's hash tag, with a TTL of two windows, and at most
 * `maxCounterKeys` per window length (the least recently counted evicted, as telemetry's own
 * windows evict past `maxTrackedKeys`). While Redis cannot
 * answer (the connection is not ready, a command fails or has no answer within
 * `commandTimeoutMs`, or `MAX_PENDING_COUNTS` are unanswered), it throws (fail-closed: a
 * throttling gate refuses 503) or answers `undefined` (fail-open: the gate decides from its
 * own window), and reports the outage once.
 */
export class RedisWindowCounter implements WindowCounter {
  readonly #client: Client
  readonly #keys: Keys
  readonly #config: RedisStoresConfig
  readonly #health: Health
  #pending = 0

  constructor (client: Client, keys: Keys, config: RedisStoresConfig, health: Health) {
    this.#client = client
    this.#keys = keys
    this.#config = config
    this.#health = health
  }

  hit (key: string, windowMs: number, _now: number, amount = 1): Promise<WindowCounts | undefined> | undefined {
    if (!Number.isSafeInteger(windowMs) || windowMs < 1 || !Number.isSafeInteger(amount) || amount < 0) {
      throw new TypeError('counters.hit: windowMs must be an integer ≥ 1 and amount an integer ≥ 0')
    }
    // Not queued while the connection is down (ioredis would hold every command until it is
    // back, and a flood of handshakes would pile up): an answer now, without Redis.
    if (this.#client.status !== 'ready') return this.#unavailable(new Error('redis: the command connection is not ready'))
    if (this.#pending >= MAX_PENDING_COUNTS) return this.#unavailable(new Error(`redis: ${MAX_PENDING_COUNTS} counts unanswered`))
    return this.#count(counterField(key), windowMs, amount)
  }

  #count (field: string, windowMs: number, amount: number): Promise<WindowCounts | undefined> {
    this.#pending++
    const keys = [this.#keys.counter(windowMs, field), this.#keys.counters(windowMs)]
    const args = [windowMs, amount, this.#config.maxCounterKeys, field, this.#keys.counter(windowMs, '')]
    return timed(HIT.run(this.#client, keys, args), this.#config.commandTimeoutMs, 'count').then((reply) => {
      this.#pending--
      this.#health.up('commands')
      const [current, previous, start, elapsedMs] = reply as [number, number, number, number]
      return { current, previous, start, elapsedMs }
    }, (err: unknown) => {
      this.#pending--
      return this.#unavailable(err as Error)
    })
  }

  #unavailable (err: Error): undefined {
    this.#health.down('commands', 'a counter command failed', err)
    if (this.#config.failOpen) return undefined
    throw err
  }

  /** counts sent and not yet answered */
  get pending (): number { return this.#pending }
}
