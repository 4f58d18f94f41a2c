import { callEach, type Principal, type Revocation, type RevocationStore } from '@wsguard/core'
import { RevocationMirror, serialise } from './mirror.js'
import type { RedisStoresConfig } from './options.js'
import { compareIds, Script, timed, type Client, type Health, type Keys } from './redis.js'

// Redis's own clock in ms (a script may read it): the records key expires by it, so the checks
// below never mistake a key that expired for one that was lost, whatever the callers' clocks.
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

// KEYS[m] is a hash without a TTL beside the records (a volatile-* eviction never takes it):
// `until`, the latest `until` the records key was given; and, when a revocation found the
// records lost, `lost` (when, on Redis's clock) and `lostUntil` (the latest `until` then: past
// it, nothing lost can be in force, and the mark means nothing more).
// The records key was lost (evicted, deleted) when it is gone while that `until` is ahead.
const GONE = (m: number): string => `(redis.call('EXISTS', KEYS[1]) == 0 and tonumber(redis.call('HGET', KEYS[${m}], 'until') or '0') > now)`
// Marked lost, and what was lost may still be in force.
const MARKED = (m: number): string => `(tonumber(redis.call('HGET', KEYS[${m}], 'lostUntil') or '0') > now)`

/** The latest `until` a record can have: JavaScript's last date, well inside PEXPIREAT's range. */
export const MAX_UNTIL_MS = 8_640_000_000_000_000

// After records were added: the key expires with its latest record, rounded up to a whole
// millisecond (PEXPIREAT takes no fraction, and a token's exp may have one), and the latest
// `until` it was given is kept in KEYS[m].
const KEEP_UNTIL = (m: number): string => `local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  local at = string.format('%.0f', math.min(math.ceil(tonumber(last[2])), ${MAX_UNTIL_MS}))
  redis.call('PEXPIREAT', KEYS[1], at)
  if tonumber(at) > tonumber(redis.call('HGET', KEYS[${m}], 'until') or '0') then redis.call('HSET', KEYS[${m}], 'until', at) end
end`

/**
 * Records the revocation (kept until `until`, and the key's TTL is the latest `until`) and
 * appends it to the stream, numbered (`n`, one more than the entry before it): a reader that
 * finds a number missing knows entries were trimmed before it read them. Appended before the
 * key's bookkeeping, so nothing there can keep a revocation from the other instances. A records
 * key gone that should exist (the store's key whose TTL lasts longest: a volatile-* eviction
 * takes it early) is marked lost before the ZADD makes it again, holding only this record: the
 * instances' checks see the mark and write back what their mirrors hold.
 * KEYS: records, stream, sequence, meta. ARGV: JSON, until, now (this instance's), stream max length.
 */
const REVOKE = new Script(`
${NOW}
if ${GONE(4)} then redis.call('HSET', KEYS[4], 'lost', now, 'lostUntil', redis.call('HGET', KEYS[4], 'until')) end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
-- Dropped only once past by both clocks: an instance whose clock runs ahead must not drop records in force.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', math.min(tonumber(ARGV[3]), now)))
local n = redis.call('INCR', KEYS[3])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'r', ARGV[1], 'n', n)
${KEEP_UNTIL(4)}
return id
`)

/**
 * The records still in force and the stream's last id and number, read together: the stream
 * goes on from there; and whether the records were lost and not yet written back: 1 (gone, or
 * marked lost less than ARGV[2] ms ago: wait for the instances that hold them), 2 (marked
 * longer ago: nobody did, and what was lost may still be in force). Last, 1 when there was no
 * meta hash at all (made now, with `born`): a new deployment, or Redis lost everything (a
 * restart without persistence, FLUSHALL), which nothing left in Redis can tell apart.
 * KEYS: records, stream, meta. ARGV: now (this instance's), wait.
 */
const LOAD = new Script(`
${NOW}
local records = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
local n = false
if last[1] then
  id = last[1][1]
  local fields = last[1][2]
  for i = 1, #fields - 1, 2 do if fields[i] == 'n' then n = fields[i + 1] end end
end
local lost = 0
if ${GONE(3)} then
  lost = 1
elseif ${MARKED(3)} then
  if tonumber(redis.call('HGET', KEYS[3], 'lost')) + tonumber(ARGV[2]) > now then lost = 1 else lost = 2 end
end
local fresh = 0
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[3], 'born', now)
  fresh = 1
end
return { id, records, n, lost, fresh }
`)

/**
 * Whether the records were lost and not yet written back: 1 (gone while the latest `until` is
 * ahead), 2 (gone, and the meta with them: the mirror tells), 3 (made again since by a
 * revocation that marked them lost, and what was lost may still be in force), 0 (kept, or
 * expired by Redis's clock). KEYS: records, meta.
 */
const CHECK = new Script(`
${NOW}
if redis.call('EXISTS', KEYS[1]) == 0 then
  local latest = redis.call('HGET', KEYS[2], 'until')
  if not latest then return 2 end
  if tonumber(latest) > now then return 1 end
  return 0
end
if ${MARKED(2)} then return 3 end
return 0
`)

/**
 * Writes records back, a page at a time, and the key's TTL as REVOKE keeps it: the latest
 * `until`. For records Redis lost (its keys, or a replica behind) that a mirror still holds.
 * With the last page (ARGV[1] '1'), an entry on the stream (`restored`, numbered) tells every
 * instance to load the records again: one that loaded while they were lost gets them then; and
 * a mirror that lacks nothing (ARGV[2] '1') clears the lost mark, only then, so a write-back
 * cut off between pages leaves it for the next check. KEYS: records, meta, stream, sequence.
 * ARGV: last page, clear, stream max length, then `until`, JSON pairs.
 */
const RESTORE = new Script(`
for i = 5, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i - 1], ARGV[i]) end
${KEEP_UNTIL(2)}
if ARGV[1] == '1' then
  if ARGV[2] == '1' then redis.call('HDEL', KEYS[2], 'lost', 'lostUntil') end
  local n = redis.call('INCR', KEYS[4])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'restored', '1', 'n', n)
end
return 1
`)

const PAGE = 1_000
const RETRY_MS = 100
type Entries = Array<[string, string[]]>

/**
 * Revocations on a Redis stream, checked at the handshake from a local mirror. Every
 * instance reads the stream on its own connection from the last entry it applied (XREAD
 * BLOCK), so after a reconnect it goes on from there and misses nothing; a fresh instance
 * first loads the records kept in Redis. `isRevoked` never waits on Redis: it answers from the
 * mirror at once while the mirror is current; while it is not (Redis unreachable, or not
 * caught up since), it throws (fail-closed) or answers from the mirror as it is (fail-open).
 */
export class RedisRevocationStore implements RevocationStore {
  readonly #client: Client
  readonly #reader: Client
  readonly #keys: Keys
  readonly #config: RedisStoresConfig
  readonly #health: Health
  readonly #mirror = new RevocationMirror()
  readonly #listeners = new Set<(r: Revocation) => void>()
  #lastId: string | undefined
  /** the number of the last entry applied, when it had one (entries written before numbers had none) */
  #lastNumber: number | undefined
  /** the count went back: Redis lost what it held (its keys, or a failover to a replica behind) */
  #lost = false
  /** when this instance, holding nothing to write back, first found the records lost (it waits for one that does) */
  #lostSince: number | undefined
  /** it went on after the records were lost and nobody wrote them back: its mirror may lack some, so it never clears the mark */
  #partial = false
  /** a `restored` entry was read: the records are loaded again before the next read */
  #reloadAsked = false
  /** when Redis was last asked whether it lost the records */
  #checkedAt = 0
  #current = false
  #closed = false
  #wake: (() => void) | undefined
  #interrupt: (() => void) | undefined
  readonly #loop: Promise<void>
  #loaded: Promise<void>
  #loadedNow: (() => void) | undefined

  constructor (client: Client, reader: Client, keys: Keys, config: RedisStoresConfig, health: Health) {
    this.#client = client
    this.#reader = reader
    this.#keys = keys
    this.#config = config
    this.#health = health
    this.#loaded = new Promise((resolve) => { this.#loadedNow = resolve })
    reader.on('close', () => {
      this.#stale('the revocation stream connection closed')
      this.#interrupt?.()
    })
    reader.on('ready', () => { this.#wake?.() })
    this.#loop = this.#run()
  }

  /**
   * Delivers the revocation here at once, then records it in Redis; rejects if Redis has not
   * accepted it within `commandTimeoutMs` (the other instances may then not know it: retry).
   * This instance refuses what it selects whatever Redis answers: applied first, it is in the
   * mirror (which only ever adds) before a handshake can ask. Its origin travels with it
   * (bounded; this instance's name when it names none), so every instance can audit where it
   * came from; read back from the stream, the same record is applied once.
   */
  async revoke (given: Revocation): Promise<void> {
    if (typeof given.until !== 'number' || Number.isNaN(given.until)) throw new TypeError('@wsguard/redis: revocation.until must be a number (ms since epoch)')
    // Kept at most until JavaScript's last date: a later one (an IdP's exp of 9e15 s) would break the key's TTL.
    const revocation = given.until > MAX_UNTIL_MS ? { ...given, until: MAX_UNTIL_MS } : given
    const json = serialise(revocation, this.#config.instance)
    this.#refuseWhenFull(json)
    this.#apply(json)
    const args = [json, revocation.until, Date.now(), this.#config.streamMaxLen]
    const keys = [this.#keys.records, this.#keys.stream, this.#keys.sequence, this.#keys.recordsMeta]
    await timed(REVOKE.run(this.#client, keys, args), this.#config.commandTimeoutMs, 'revoke')
  }

  /**
   * One more record in force than `maxRevocationRecords` is refused, before anything is applied
   * or written: each back-channel logout is a record kept for the retention, and every instance
   * keeps every record. Counted from the mirror, which follows Redis's records (those past
   * their `until` as of now dropped first); the same record again is no more.
   */
  #refuseWhenFull (json: string): void {
    const max = this.#config.maxRevocationRecords
    if (this.#mirror.size < max || this.#mirror.has(json)) return
    this.#mirror.sweep(Date.now())
    if (this.#mirror.size >= max) throw new Error(`@wsguard/redis: ${max} revocation records in force (maxRevocationRecords); refusing rather than growing without bound`)
  }

  isRevoked (principal: Principal, now: number): boolean {
    if (!this.#current && !this.#config.failOpen) {
      throw new Error('@wsguard/redis: the revocation mirror is not current (Redis unavailable); fail-closed')
    }
    return this.#mirror.isRevoked(principal, now)
  }

  /** this instance's name (the `instance` option): the origin of the revocations it issues */
  get instance (): string { return this.#config.instance }

  subscribe (listener: (revocation: Revocation) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** whether the mirror has every revocation Redis holds (as of the last read) */
  get current (): boolean { return this.#current }
  /** records in the mirror */
  get size (): number { return this.#mirror.size }
  /** resolves once the records kept in Redis have been loaded the first time */
  loaded (): Promise<void> { return this.#loaded }

  async close (): Promise<void> {
    this.#closed = true
    // No longer following the stream: a check asked of it now fails closed (or, fail-open, answers from the mirror as it is).
    this.#current = false
    this.#wake?.()
    this.#interrupt?.()
    this.#reader.disconnect()
    await this.#loop
  }

  #apply (json: string): void {
    const r = this.#mirror.add(json, Date.now())
    if (r === undefined) return
    // A listener that throws never skips the write that follows, the listeners after it, or the stream's reading.
    callEach(this.#listeners, r)
  }

  #stale (reason: string, error?: Error): void {
    if (this.#closed) return
    this.#current = false
    this.#health.down('mirror', reason, error)
  }

  async #run (): Promise<void> {
    const { blockMs, commandTimeoutMs } = this.#config
    while (!this.#closed) {
      try {
        if (!this.#current) await this.#catchUp()
        if (this.#reloadAsked) {
          // Records written back after this instance loaded reach it only this way, never
          // through the stream. It stays current meanwhile: the mirror only ever adds.
          this.#reloadAsked = false
          this.#lastId = undefined
          await this.#catchUp()
        }
        const read = this.#reader.xread('COUNT', PAGE, 'BLOCK', blockMs, 'STREAMS', this.#keys.stream, this.#lastId as string)
        // The connection closing ends the wait at once: a blocked read is not always failed by the client.
        const answer = await new Promise<Awaited<typeof read>>((resolve, reject) => {
          this.#interrupt = () => { reject(new Error('the revocation stream connection closed')) }
          timed(read, blockMs + commandTimeoutMs, 'XREAD').then(resolve, reject)
        })
        this.#interrupt = undefined
        if (answer !== null && !this.#applyEntries((answer[0] as [string, Entries])[1])) {
          // Entries this instance never read were trimmed (it lagged more than streamMaxLen
          // behind): not current until the records are loaded again.
          this.#lastId = undefined
          this.#stale('revocations were trimmed from the stream before this instance read them')
        } else if (answer === null || Date.now() - this.#checkedAt >= blockMs) {
          // Nothing new, or a busy stream once every blockMs: does Redis still hold the records this mirror has?
          await this.#restoreIfLost()
        }
      } catch (err) {
        if (this.#closed) return
        this.#stale('reading the revocation stream failed', err as Error)
        await this.#ready()
      }
    }
  }

  /** Reads what the mirror misses: everything at first, then on from the last applied entry. */
  async #catchUp (): Promise<void> {
    if (this.#lastId !== undefined && await this.#trimmedPast(this.#lastId)) this.#lastId = undefined
    if (!await this.#readOn()) {
      // Entries went missing while it read on: the records are loaded on the next try.
      this.#lastId = undefined
      throw new Error('revocations were trimmed from the stream before this instance read them')
    }
    if (this.#lost) {
      await this.#writeBack()
      this.#lost = false
    } else {
      // Back after a cut (a restart, a failover, memory pressure): does Redis still hold the records?
      await this.#restoreIfLost()
    }
    this.#current = true
    this.#loadedNow?.()
    this.#health.up('mirror')
  }

  /**
   * Whether entries after `id` were trimmed away (MAXLEN) while this instance was cut off: then
   * the records are loaded again. Told by the oldest entry being past `id` (or, in an empty
   * stream, the last id generated); a stream that is gone counts as trimmed.
   */
  async #trimmedPast (id: string): Promise<boolean> {
    const read = timed(this.#reader.call('XINFO', 'STREAM', this.#keys.stream), this.#config.commandTimeoutMs, 'XINFO')
    // No stream (deleted), or no answer: load again, which is always safe.
    const fields = await read.catch(() => undefined)
    if (fields === undefined) return true
    const list = fields as unknown[]
    const first = list[list.indexOf('first-entry') + 1] as [string, string[]] | null
    const oldest = first !== null ? first[0] : list[list.indexOf('last-generated-id') + 1] as string
    return compareIds(oldest, id) > 0
  }

  /** Loads the records when there is no last id, then reads the stream on to its end; false when entries went missing. */
  async #readOn (): Promise<boolean> {
    const { commandTimeoutMs } = this.#config
    const stream = this.#keys.stream
    let whole = true
    if (this.#lastId === undefined) {
      const keys = [this.#keys.records, stream, this.#keys.recordsMeta]
      const loaded = await timed(LOAD.run(this.#reader, keys, [Date.now(), this.#lostWaitMs]), commandTimeoutMs, 'load')
      const [id, records, n, lost, fresh] = loaded as [string, string[], string | null, number, number]
      if (fresh === 1 && this.#mirror.latestUntil <= Date.now()) this.#noBookkeeping()
      if (lost === 1) this.#recordsLost()
      else this.#lostSince = undefined
      if (lost === 2) this.#goOnWithout()
      for (const json of records) this.#apply(json)
      this.#lastId = id
      const previous = this.#lastNumber
      this.#lastNumber = n === null ? undefined : Number(n)
      // Loaded again after reading numbered entries, and the count is gone or went back: Redis
      // lost what it held (a restart without persistence, a failover to a replica behind).
      if (previous !== undefined && (this.#lastNumber === undefined || this.#lastNumber < previous)) this.#lost = true
    }
    for (;;) {
      const page = await timed(this.#reader.xrange(stream, `(${this.#lastId}`, '+', 'COUNT', PAGE), commandTimeoutMs, 'XRANGE')
      whole = this.#applyEntries(page) && whole
      if (page.length < PAGE) return whole
    }
  }

  /**
   * Applies entries in stream order; false when an entry's number is not one more than the
   * last one applied (entries between were trimmed before this instance read them, or the
   * count was lost with Redis's keys): the records must be loaded again. Every entry is applied
   * either way: a revocation is never skipped for arriving after a gap.
   */
  #applyEntries (entries: Entries): boolean {
    let whole = true
    for (const [id, fields] of entries) {
      this.#lastId = id
      let json: string | undefined
      let n: number | undefined
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === 'r') json = fields[i + 1]
        else if (fields[i] === 'n') n = Number(fields[i + 1])
      }
      if (json !== undefined) this.#apply(json)
      // Another instance wrote back records Redis had lost: load them (this one may lack them).
      else if (fields.includes('restored')) this.#reloadAsked = true
      if (n === undefined) continue
      if (this.#lastNumber !== undefined && n !== this.#lastNumber + 1) {
        whole = false
        if (n <= this.#lastNumber) this.#lost = true
      }
      this.#lastNumber = n
    }
    return whole
  }

  /**
   * Loading, it found the records lost and not yet written back. With records of its own in
   * force (loaded again after a reconnect) it writes them back. Holding none (it just started),
   * it cannot: it stays not current (fail-closed) and loads again, for up to `#lostWaitMs`,
   * while the instances that hold them write them back (each asks at least every `blockMs`);
   * then it goes on with what Redis holds, and says so.
   */
  #recordsLost (): void {
    const now = Date.now()
    if (this.#mirror.latestUntil > now) {
      this.#lost = true
      return
    }
    this.#lostSince ??= now
    if (now - this.#lostSince < this.#lostWaitMs) throw new Error('Redis lost its revocation records; waiting for an instance that holds them to write them back')
    this.#lostSince = undefined
    this.#goOnWithout()
  }

  /**
   * Loading, it found no meta hash under the prefix: a new deployment, or Redis lost every key
   * (the meta hash with the records). Nothing in Redis tells which, so it goes on and says so:
   * after a total loss, tokens revoked before are accepted here until an instance that holds
   * them writes them back (each asks at least every `blockMs`), when this one loads them too.
   * The hash it made keeps the next instance to load from saying it again. (An instance whose
   * mirror holds records in force is the one that writes them back, and says that instead.)
   */
  #noBookkeeping (): void {
    this.#config.logger?.warn({}, `@wsguard/redis: Redis holds no revocation bookkeeping under this prefix: a new deployment, or Redis lost every key (a restart without persistence, FLUSHALL); if the latter, tokens revoked before may be accepted here until an instance that holds them writes them back (each checks within ${this.#config.blockMs} ms)`)
  }

  /** Goes on with the records Redis holds, when some were lost that nobody wrote back; says so. */
  #goOnWithout (): void {
    this.#partial = true
    this.#config.logger?.warn({}, `@wsguard/redis: Redis lost its revocation records and no instance wrote them back within ${this.#lostWaitMs} ms; going on with those it holds (tokens revoked before the loss may be accepted here)`)
  }

  /** How long a revocation's lost mark lasts, and how long a new instance waits for a write-back: two of the instances' checks. */
  get #lostWaitMs (): number {
    return 2 * (this.#config.blockMs + this.#config.commandTimeoutMs)
  }

  /**
   * While the mirror holds records still in force, Redis must hold them: when its records key
   * is gone while its latest `until` is ahead, or a revocation found it so (and made it again),
   * Redis lost them, and this instance writes back what it holds, so that an instance started
   * now refuses them too.
   */
  async #restoreIfLost (): Promise<void> {
    this.#checkedAt = Date.now()
    if (this.#mirror.latestUntil <= this.#checkedAt) return
    const lost = await timed(CHECK.run(this.#reader, [this.#keys.records, this.#keys.recordsMeta], []), this.#config.commandTimeoutMs, 'check')
    // 2: everything gone with the key; this mirror holds records in force, so they were lost.
    // 3: marked lost: for the mirrors that hold all (a partial one has nothing more to give).
    if (lost === 1 || lost === 2 || (lost === 3 && !this.#partial)) await this.#writeBack()
  }

  /** Writes the records this mirror holds that are still in force back to Redis, a page at a time. */
  async #writeBack (): Promise<void> {
    const records = this.#mirror.inForce(Date.now())
    const keys = [this.#keys.records, this.#keys.recordsMeta, this.#keys.stream, this.#keys.sequence]
    for (let i = 0; i < records.length; i += PAGE) {
      const last = i + PAGE >= records.length ? '1' : '0'
      const args = [last, this.#partial ? '0' : '1', this.#config.streamMaxLen, ...records.slice(i, i + PAGE).flat()]
      await timed(RESTORE.run(this.#reader, keys, args), this.#config.commandTimeoutMs, 'restore')
    }
    this.#config.logger?.warn({ records: records.length }, '@wsguard/redis: Redis had lost its revocation records; this instance wrote back those still in force')
  }

  /** Waits until the reader connection is up again (or the store closes). */
  async #ready (): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#wake = resolve
      // Connected but failing (a timeout, an error reply): try again shortly, not in a tight loop.
      if (this.#reader.status === 'ready') setTimeout(resolve, RETRY_MS)
    })
    this.#wake = undefined
  }
}
