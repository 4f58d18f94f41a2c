import { callEach, type Principal, type Revocation, type RevocationStore } from '@wsguard/core'
import { RevocationMirror, serialise } from './mirror.js'
import type { RedisStoresConfig } from './options.js'
import { compareIds, Script, timed, type Client, type Health, type Keys } from './redis.js'

/** Records the revocation (kept until `until`, and the key's TTL is the latest `until`) and appends it to the stream. */
const REVOKE = new Script(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'r', ARGV[1])
`)

/** The records still in force and the stream's last id, read together: the stream goes on from there. */
const LOAD = new Script(`
local records = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if last[1] then id = last[1][1] end
return { id, records }
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
  async revoke (revocation: Revocation): Promise<void> {
    const json = serialise(revocation, this.#config.instance)
    this.#apply(json)
    const args = [json, revocation.until, Date.now(), this.#config.streamMaxLen]
    await timed(REVOKE.run(this.#client, [this.#keys.records, this.#keys.stream], args), this.#config.commandTimeoutMs, 'revoke')
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
        const read = this.#reader.xread('COUNT', PAGE, 'BLOCK', blockMs, 'STREAMS', this.#keys.stream, this.#lastId as string)
        // The connection closing ends the wait at once: a blocked read is not always failed by the client.
        const answer = await new Promise<Awaited<typeof read>>((resolve, reject) => {
          this.#interrupt = () => { reject(new Error('the revocation stream connection closed')) }
          timed(read, blockMs + commandTimeoutMs, 'XREAD').then(resolve, reject)
        })
        this.#interrupt = undefined
        if (answer !== null) this.#applyEntries((answer[0] as [string, Entries])[1])
      } catch (err) {
        if (this.#closed) return
        this.#stale('reading the revocation stream failed', err as Error)
        await this.#ready()
      }
    }
  }

  /** Reads what the mirror misses: everything at first, then on from the last applied entry. */
  async #catchUp (): Promise<void> {
    const { commandTimeoutMs } = this.#config
    const stream = this.#keys.stream
    if (this.#lastId !== undefined && await this.#trimmedPast(this.#lastId)) this.#lastId = undefined
    if (this.#lastId === undefined) {
      const loaded = await timed(LOAD.run(this.#reader, [this.#keys.records, stream], [Date.now()]), commandTimeoutMs, 'load')
      const [id, records] = loaded as [string, string[]]
      for (const json of records) this.#apply(json)
      this.#lastId = id
    }
    for (;;) {
      const page = await timed(this.#reader.xrange(stream, `(${this.#lastId}`, '+', 'COUNT', PAGE), commandTimeoutMs, 'XRANGE')
      this.#applyEntries(page)
      if (page.length < PAGE) break
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

  #applyEntries (entries: Entries): void {
    for (const [id, fields] of entries) {
      this.#lastId = id
      const json = fields[1]
      if (fields[0] === 'r' && json !== undefined) this.#apply(json)
    }
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
