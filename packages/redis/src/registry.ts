import { principalKey, type Principal, type PrincipalRef, type SessionFilter, type SessionInfo, type SessionRegistry } from '@wsguard/core'
import type { RedisStoresConfig } from './options.js'
import { Script, timed, type Client, type Health, type Keys } from './redis.js'

const NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)"

/**
 * The field every write puts in an instance's counts hash (no principal key starts with '#'),
 * holding the number of that write: while it is there, Redis still holds what the instance
 * wrote; while it is the number of the instance's last write, Redis holds all of it. Redis
 * losing the keys (a restart without persistence, FLUSHALL, eviction) loses the mark; a
 * failover to a replica that missed the last writes leaves an older number.
 */
export const WRITTEN_MARK = '#'

/**
 * How much longer an instance's keys live than its place in the list of live instances, ms:
 * a listed instance whose counts hash is missing lost it (not its TTL running out first).
 */
export const KEYS_OUTLIVE_LISTING_MS = 1_000

/** What APPLY and BEAT answer: the keys are current; lost (no mark); stale (an older write's mark). */
const CURRENT = 1
const LOST = 0

/**
 * Applies this instance's queued writes in order, in one script: KEYS instances, sessions,
 * counts; ARGV instance, ttl, whether the sessions hash should exist ('1'/'0'), the number of
 * the instance's previous write, this write's number, the keys' TTL, then the writes, each an
 * op and its arguments:
 * `a` id json principal-key-or-'' counted(1/0) adds (or replaces) a session;
 * `u` id json replaces a session's entry if it is there; `r` id principal-key-or-'' removes one.
 * After an add the keys' TTLs are renewed and the instance is listed as live. Answers LOST (no
 * mark) or -1 (the mark of another write than the previous one, or no sessions hash where there
 * should be one) and applies nothing: applied to what is left, the writes would hide the loss
 * from the next heartbeat, and a write that reaches Redis after a rewrite would count twice.
 */
const APPLY = new Script(`${NOW}
local mark = redis.call('HGET', KEYS[3], '${WRITTEN_MARK}')
if not mark then return ${LOST} end
if mark ~= ARGV[4] or (ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 0) then return -1 end
local i = 7
local added = false
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'a' then
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
    if ARGV[i + 3] ~= '' and ARGV[i + 4] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[i + 3], 1) end
    added = true
    i = i + 5
  elseif op == 'u' then
    if redis.call('HEXISTS', KEYS[2], ARGV[i + 1]) == 1 then redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2]) end
    i = i + 3
  else
    if redis.call('HDEL', KEYS[2], ARGV[i + 1]) == 1 and ARGV[i + 2] ~= '' then
      if redis.call('HINCRBY', KEYS[3], ARGV[i + 2], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[i + 2]) end
    end
    i = i + 3
  end
end
redis.call('HSET', KEYS[3], '${WRITTEN_MARK}', ARGV[5])
if added then
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
  redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
end
return ${CURRENT}
`)

/**
 * Heartbeat: KEYS instances, sessions, counts; ARGV instance, ttl, whether the sessions hash
 * should exist ('1'/'0'), the number of the instance's last write, the keys' TTL. Forgets dead
 * instances; then, only while this one's keys are current, lists it and renews their TTLs.
 * Answers LOST or -1 as APPLY does: the instance is listed again by its rewrite.
 */
const BEAT = new Script(`${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local mark = redis.call('HGET', KEYS[3], '${WRITTEN_MARK}')
if not mark then return ${LOST} end
local sessions = redis.call('PEXPIRE', KEYS[2], ARGV[5])
if mark ~= ARGV[4] or (ARGV[3] == '1' and sessions == 0) then return -1 end
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
return ${CURRENT}
`)

/** Lists an instance as live (in the rewrite's transaction): KEYS instances; ARGV instance, ttl. */
const LISTING = `${NOW} redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1]) return 1`

/**
 * Sessions of a principal on every live instance but this one (whose own it knows): KEYS
 * instances, the lost-registry mark; ARGV tag, principal key, this instance, whether it must
 * be listed ('1'/'0'). Answers -1 while the registry is being written again after a loss
 * (another instance may not have written itself again yet), -2 when a listed instance's counts
 * are gone, -3 when this instance should be listed with its mark and is not: each time Redis
 * no longer holds every session, and a count from what is left would let a principal past the cap.
 */
const COUNT = new Script(`${NOW}
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local n = 0
local listed = false
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  local got = redis.call('HMGET', ARGV[1] .. 'c:' .. id, ARGV[2], '${WRITTEN_MARK}')
  if id == ARGV[3] then
    listed = got[2] ~= false
  elseif not got[2] then
    return -2
  else
    n = n + (tonumber(got[1]) or 0)
  end
end
if ARGV[4] == '1' and not listed then return -3 end
return n
`)

/** Why a count is refused, by COUNT's answer. */
const INCOMPLETE: Partial<Record<number, string>> = {
  [-1]: 'redis: the session registry is being written again after Redis lost it; no count is complete until every instance has had a heartbeat',
  [-2]: 'redis: Redis lost the session registry keys of a live instance; no count is complete until it writes them again',
  [-3]: 'redis: Redis lost this instance\'s session registry keys; no count is complete until it writes them again'
}

/** Every live instance's sessions: KEYS instances; ARGV tag. */
const LIST = new Script(`${NOW}
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  for _, v in ipairs(redis.call('HVALS', ARGV[1] .. 's:' .. id)) do out[#out + 1] = v end
end
return out
`)

/**
 * How long a registry write waits for others to go with it, ms: the sessions opened and closed
 * on this instance reach Redis (and other instances' `list()` and `count()`) up to this much
 * later. Each command costs this process a fixed amount of CPU whatever it carries (about 0.3-1
 * ms here: the socket write to Redis, the reply, the wake-ups), so the fewer, the better.
 */
export const REGISTRY_WRITE_DELAY_MS = 20

/** A batch holding this many writes goes at once, without waiting for its delay: commands stay small. */
export const REGISTRY_MAX_BATCH_WRITES = 256

/** The key a principal's sessions are counted under (core's, as session-expiry's cap); '' for none. */
function keyOfPrincipal (p: Principal | null): string {
  return p === null ? '' : principalKey(p.id, p.issuer)
}

/** Whether a session is selected by a filter (the same rule as session-expiry's). */
function matches (filter: SessionFilter, s: SessionInfo): boolean {
  const p = s.principal
  if ('sessionId' in filter) {
    return (filter.sessionId === s.id || p?.sessionId === filter.sessionId) && (filter.issuer === undefined || p?.issuer === filter.issuer)
  }
  if (p === null) return false
  if ('subject' in filter) return p.id === filter.subject && (filter.issuer === undefined || p.issuer === filter.issuer)
  if ('tokenId' in filter) return p.tokenId === filter.tokenId
  return p.issuer === filter.issuer
}

/**
 * Open sessions of every instance. Each instance writes its own under its own keys (a hash
 * of sessions, a hash of per-principal counts) with a TTL its heartbeat refreshes, and lists
 * itself in a sorted set by the time its entries expire: an instance that dies without
 * cleaning up drops out of `list()` and `count()` when its heartbeat is missed, and its keys
 * expire. This instance keeps its own sessions in memory too, and writes them all again
 * whenever a write failed or its keys were lost (Redis restarted, or it was cut off too long).
 */
export class RedisSessionRegistry implements SessionRegistry {
  readonly #client: Client
  readonly #keys: Keys
  readonly #config: RedisStoresConfig
  readonly #health: Health
  readonly #mine = new Map<string, SessionInfo>()
  readonly #counts = new Map<string, number>()
  /**
   * The principal key each counted session was counted under, when it was added: it is
   * uncounted under that key, whatever `update()` put in its entry since (a principal an app
   * set after the upgrade, on a route without authentication: never counted, never uncounted).
   */
  readonly #countedAs = new Map<string, string>()
  readonly #timer: NodeJS.Timeout
  /** the TTL of this instance's keys, `KEYS_OUTLIVE_LISTING_MS` longer than its listing's */
  readonly #keysTtl: number
  #dirty = true
  /** close() was called: nothing is written any more, so the instance's keys stay removed */
  #closed = false
  /** this instance's sessions Redis holds once every write sent so far has applied */
  #stored = 0
  #beating: Promise<void> | undefined
  #batch: Batch | undefined
  /** the number of the last write sent (a batch or a rewrite): the mark Redis holds once it applied */
  #written = 0
  /** a rewrite has been applied: this instance is listed, and a loss of its keys is a loss */
  #listed = false
  /** when Redis last told this instance's keys were current (this process's clock) */
  #keptAt = 0

  constructor (client: Client, keys: Keys, config: RedisStoresConfig, health: Health) {
    this.#client = client
    this.#keys = keys
    this.#config = config
    this.#health = health
    this.#keysTtl = config.heartbeatTtlMs + KEYS_OUTLIVE_LISTING_MS
    this.#timer = setInterval(() => { this.heartbeat() }, config.heartbeatMs).unref()
    this.heartbeat()
  }

  add (info: SessionInfo): Promise<void> {
    // After close() (the app still serving), nothing is written: the instance's entries went with its keys.
    if (this.#closed) return Promise.resolve()
    // An id already held is replaced, and stays counted as it was.
    const counted = !this.#mine.has(info.id)
    const key = counted ? keyOfPrincipal(info.principal) : ''
    this.#mine.set(info.id, info)
    if (key !== '') {
      this.#countedAs.set(info.id, key)
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1)
    }
    return this.#queue('add', counted ? 1 : 0, 'a', info.id, JSON.stringify(info), key, counted ? 1 : 0)
  }

  update (info: SessionInfo): Promise<void> {
    if (this.#closed || !this.#mine.has(info.id)) return Promise.resolve()
    this.#mine.set(info.id, info)
    return this.#queue('update', 0, 'u', info.id, JSON.stringify(info))
  }

  remove (id: string): Promise<void> {
    const info = this.#mine.get(id)
    if (this.#closed || info === undefined) return Promise.resolve()
    this.#mine.delete(id)
    const key = this.#countedAs.get(id) ?? ''
    if (key !== '') {
      this.#countedAs.delete(id)
      const n = (this.#counts.get(key) as number) - 1
      if (n <= 0) this.#counts.delete(key)
      else this.#counts.set(key, n)
    }
    return this.#queue('remove', -1, 'r', id, key)
  }

  /**
   * Sessions of the principal on every live instance: this instance's own, as it holds them
   * (its writes still queued or on their way included), and every other live instance's from
   * Redis, in one command. Rejects while Redis does not hold every instance's sessions (keys
   * lost, the registry being written again after a loss). Fail-open: this instance's own count
   * while Redis fails.
   */
  async count (principal: PrincipalRef): Promise<number> {
    const key = principalKey(principal.subject, principal.issuer)
    const own = this.#counts.get(key) ?? 0
    let n: number
    try {
      const args = [this.#keys.tag, key, this.#config.instance, this.#listed && !this.#closed ? '1' : '0']
      n = await timed(COUNT.run(this.#client, [this.#keys.instances, this.#keys.registryLost], args), this.#config.commandTimeoutMs, 'count') as number
    } catch (err) {
      this.#health.down('commands', 'a registry command failed', err as Error)
      if (this.#config.failOpen) return own
      throw err
    }
    if (n >= 0) return n + own
    // This instance's own keys are gone: written again now, not at the next heartbeat.
    if (n === -3) this.heartbeat()
    if (this.#config.failOpen) return own
    // Any other negative answer (a counts field Redis holds that is no count) refuses too.
    throw new Error(INCOMPLETE[n] ?? `redis: the count script answered ${n}; no count is given`)
  }

  /** Every live instance's sessions, optionally filtered. Rejects while Redis fails (whatever `onUnavailable`). */
  async list (filter?: SessionFilter): Promise<readonly SessionInfo[]> {
    const all = await timed(LIST.run(this.#client, [this.#keys.instances], [this.#keys.tag]), this.#config.commandTimeoutMs, 'list') as string[]
    const sessions = all.map((json) => JSON.parse(json) as SessionInfo)
    return filter === undefined ? sessions : sessions.filter((s) => matches(filter, s))
  }

  /** sessions of this instance */
  get size (): number { return this.#mine.size }

  /** Refreshes this instance's entries (on its interval; exposed for tests), writing them all again when needed. */
  heartbeat (): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#beating ??= this.#beat().finally(() => { this.#beating = undefined })
    return this.#beating
  }

  /** Stops the heartbeat and removes this instance's entries. */
  async close (): Promise<void> {
    clearInterval(this.#timer)
    this.#closed = true
    // the writes still queued go first, so the removal below is the last word
    const queued = this.#batch
    queued?.send()
    await Promise.all([this.#beating, queued?.done.catch(() => {})])
    const { instance, commandTimeoutMs } = this.#config
    const removal = this.#client.multi()
      .del(this.#keys.sessions(instance), this.#keys.counts(instance))
      .zrem(this.#keys.instances, instance)
      .exec()
    await timed(removal, commandTimeoutMs, 'close').catch(() => {})
  }

  async #beat (): Promise<void> {
    const { instance, heartbeatTtlMs, commandTimeoutMs } = this.#config
    const keys = [this.#keys.instances, this.#keys.sessions(instance), this.#keys.counts(instance)]
    try {
      // Every session this instance holds, those still queued included: a batch waiting to be
      // sent is then made by the rewrite (and its own write settles with it).
      const args = [instance, heartbeatTtlMs, this.#mine.size > 0 ? '1' : '0', this.#written, this.#keysTtl]
      const kept = await timed(BEAT.run(this.#client, keys, args), commandTimeoutMs, 'heartbeat')
      if (kept === CURRENT) this.#keptAt = Date.now()
      // Lost while they should still be there (this instance was listed, and their TTL has not
      // run out since Redis last held them: not an instance cut off for longer than that):
      // other instances' keys may have gone with its own.
      const lost = kept === LOST && this.#listed && Date.now() - this.#keptAt < heartbeatTtlMs
      if (this.#dirty || kept !== CURRENT) await this.#rewrite(keys, lost)
      this.#health.up('commands')
    } catch (err) {
      this.#dirty = true
      this.#health.down('commands', 'a registry command failed', err as Error)
    }
  }

  /**
   * Writes this instance's entries again from what it holds, and lists it, in one transaction.
   * After a loss it also marks the registry as being written again: until every instance had a
   * heartbeat to write itself again, no count is complete.
   */
  async #rewrite ([instances, sessions, counts]: string[], lost: boolean): Promise<void> {
    const { heartbeatTtlMs, heartbeatMs, commandTimeoutMs, instance } = this.#config
    const keysTtl = this.#keysTtl
    // The writes still queued are in what it holds: the rewrite makes them, and their batch
    // must not apply them again (an add would count twice); it settles with the rewrite.
    const covered = this.#batch
    this.#batch = undefined
    const m = this.#client.multi().del(sessions as string, counts as string)
    if (this.#mine.size > 0) {
      m.hset(sessions as string, Object.fromEntries([...this.#mine].map(([id, info]) => [id, JSON.stringify(info)])))
      m.pexpire(sessions as string, keysTtl)
    }
    // The mark goes with every rewrite, whatever the instance holds: its absence tells a loss.
    m.hset(counts as string, { ...Object.fromEntries(this.#counts), [WRITTEN_MARK]: ++this.#written })
    m.pexpire(counts as string, keysTtl)
    m.eval(LISTING, 1, instances as string, instance, heartbeatTtlMs)
    if (lost) m.set(this.#keys.registryLost, '1', 'PX', heartbeatMs + 2 * commandTimeoutMs)
    this.#stored = this.#mine.size
    const done = timed(m.exec(), commandTimeoutMs, 'rewrite')
    if (covered !== undefined) covered.rewrite = done
    await done
    this.#dirty = false
    this.#listed = true
    this.#keptAt = Date.now()
  }

  /**
   * Queues a write; the writes queued within `REGISTRY_WRITE_DELAY_MS` go to Redis in one
   * command (`APPLY`), in order, so a burst of handshakes costs one write to the socket, not
   * two per session (on a loopback socket the write itself costs more CPU than the command). The promise settles with that command; a failed one marks the registry dirty, and
   * the next heartbeat writes every entry again.
   */
  #queue (what: string, change: number, ...op: Array<string | number>): Promise<void> {
    if (this.#batch === undefined) {
      let send!: () => void
      const due = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, REGISTRY_WRITE_DELAY_MS)
        send = () => { clearTimeout(timer); resolve() }
      })
      // ARGV[3], whether the sessions hash should exist, is known when the batch is sent.
      const batch: Batch = { args: [this.#config.instance, this.#config.heartbeatTtlMs, '0', 0, 0, this.#keysTtl], writes: 0, sessions: 0, what: new Set(), send, done: undefined as unknown as Promise<void> }
      batch.done = due.then(() => this.#flush(batch))
      this.#batch = batch
    }
    const batch = this.#batch
    batch.what.add(what)
    batch.sessions += change
    for (const a of op) batch.args.push(a)
    if (++batch.writes >= REGISTRY_MAX_BATCH_WRITES) batch.send()
    return batch.done
  }

  async #flush (batch: Batch): Promise<void> {
    if (batch.rewrite !== undefined) {
      await batch.rewrite
      return
    }
    this.#batch = undefined
    const { instance, commandTimeoutMs } = this.#config
    const keys = [this.#keys.instances, this.#keys.sessions(instance), this.#keys.counts(instance)]
    // Batches are sent one after another on one connection, and Redis runs them in that order.
    batch.args[2] = this.#stored > 0 ? '1' : '0'
    batch.args[3] = this.#written
    batch.args[4] = ++this.#written
    this.#stored += batch.sessions
    let applied: unknown
    try {
      applied = await timed(APPLY.run(this.#client, keys, batch.args), commandTimeoutMs, [...batch.what].join(', '))
    } catch (err) {
      this.#dirty = true
      throw err
    }
    if (applied === CURRENT || this.#closed) return
    // Redis lost this instance's keys (or holds an older write): everything it holds (this batch's writes included) is
    // written again now, not at the next heartbeat, which a write meanwhile would have fooled.
    this.#dirty = true
    await this.heartbeat()
    // A heartbeat already under way may have decided before this answer: then one more.
    if (this.#dirty) await this.heartbeat()
    if (this.#dirty) throw new Error(`@wsguard/redis: this instance's registry keys were lost and could not be written again (${[...batch.what].join(', ')})`)
  }
}

/** Writes queued for one command: the script's ARGV. */
interface Batch {
  readonly args: Array<string | number>
  /** writes it holds */
  writes: number
  /** what its writes change in how many sessions of this instance Redis holds */
  sessions: number
  /** the writes it holds, named in the error when it fails: add, update, remove */
  readonly what: Set<string>
  /** sends it now instead of at the end of its delay */
  readonly send: () => void
  /** set when a rewrite of every entry was sent before it: it settles with that, sends nothing */
  rewrite?: Promise<unknown>
  done: Promise<void>
}
