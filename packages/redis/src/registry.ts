import { principalKey, type Principal, type PrincipalRef, type SessionFilter, type SessionInfo, type SessionRegistry } from '@wsguard/core'
import type { RedisStoresConfig } from './options.js'
import { Script, timed, type Client, type Health, type Keys } from './redis.js'

const NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)"

/**
 * The field every rewrite puts in an instance's counts hash (no principal key starts with
 * '#'): while it is there, Redis still holds what the instance wrote last. Redis losing the
 * keys (a restart without persistence, a failover, FLUSHALL, eviction) loses it too.
 */
export const WRITTEN_MARK = '#'

/**
 * Applies this instance's queued writes in order, in one script: KEYS instances, sessions,
 * counts; ARGV instance, ttl, whether the sessions hash should exist ('1'/'0'), then the
 * writes, each an op and its arguments:
 * `a` id json principal-key-or-'' counted(1/0) adds (or replaces) a session;
 * `u` id json replaces a session's entry if it is there; `r` id principal-key-or-'' removes one.
 * After an add the keys' TTLs are renewed and the instance is listed as live. Answers 0, and
 * applies nothing, when the keys were lost (no mark, or no sessions hash where there should be
 * one): applied to what is left, the writes would hide the loss from the next heartbeat.
 */
const APPLY = new Script(`${NOW}
if redis.call('HEXISTS', KEYS[3], '${WRITTEN_MARK}') == 0 or (ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 0) then return 0 end
local i = 4
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
if added then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
  redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
end
return 1
`)

/**
 * Heartbeat: KEYS instances, sessions, counts; ARGV instance, ttl, whether the sessions hash
 * should exist ('1'/'0'). Forgets dead instances; 0 when this one's entries are gone (its
 * mark, or its sessions hash where there should be one).
 */
const BEAT = new Script(`${NOW}
redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[3], ARGV[2])
local sessions = redis.call('PEXPIRE', KEYS[2], ARGV[2])
if redis.call('HEXISTS', KEYS[3], '${WRITTEN_MARK}') == 0 or (ARGV[3] == '1' and sessions == 0) then return 0 end
return 1
`)

/** Sessions of a principal on every live instance: KEYS instances; ARGV tag, principal key. */
const COUNT = new Script(`${NOW}
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  n = n + (tonumber(redis.call('HGET', ARGV[1] .. 'c:' .. id, ARGV[2])) or 0)
end
return n
`)

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
  readonly #timer: NodeJS.Timeout
  #dirty = true
  /** close() was called: nothing is written any more, so the instance's keys stay removed */
  #closed = false
  /** this instance's sessions Redis holds once every write sent so far has applied */
  #stored = 0
  #beating: Promise<void> | undefined
  #batch: Batch | undefined

  constructor (client: Client, keys: Keys, config: RedisStoresConfig, health: Health) {
    this.#client = client
    this.#keys = keys
    this.#config = config
    this.#health = health
    this.#timer = setInterval(() => { this.heartbeat() }, config.heartbeatMs).unref()
    this.heartbeat()
  }

  add (info: SessionInfo): Promise<void> {
    // After close() (the app still serving), nothing is written: the instance's entries went with its keys.
    if (this.#closed) return Promise.resolve()
    const key = keyOfPrincipal(info.principal)
    const counted = !this.#mine.has(info.id)
    this.#mine.set(info.id, info)
    if (counted && key !== '') this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1)
    const written = this.#queue('add', counted ? 1 : 0, 'a', info.id, JSON.stringify(info), key, counted ? 1 : 0)
    if (counted && key !== '') this.#pendingCount(key, 1)
    return written
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
    const key = keyOfPrincipal(info.principal)
    if (key !== '') {
      const n = (this.#counts.get(key) as number) - 1
      if (n <= 0) this.#counts.delete(key)
      else this.#counts.set(key, n)
    }
    const written = this.#queue('remove', -1, 'r', id, key)
    if (key !== '') this.#pendingCount(key, -1)
    return written
  }

  /** Sessions of the principal on every live instance: one command. Fail-open: this instance's count while Redis fails. */
  async count (principal: PrincipalRef): Promise<number> {
    const key = principalKey(principal.subject, principal.issuer)
    // This instance's writes still queued reach Redis after this count: add them in.
    const queued = this.#batch?.counts.get(key) ?? 0
    try {
      const n = await timed(COUNT.run(this.#client, [this.#keys.instances], [this.#keys.tag, key]), this.#config.commandTimeoutMs, 'count')
      return (n as number) + queued
    } catch (err) {
      this.#health.down('commands', 'a registry command failed', err as Error)
      if (this.#config.failOpen) return this.#counts.get(key) ?? 0
      throw err
    }
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
      const kept = await timed(BEAT.run(this.#client, keys, [instance, heartbeatTtlMs, this.#mine.size > 0 ? '1' : '0']), commandTimeoutMs, 'heartbeat')
      if (this.#dirty || kept === 0) await this.#rewrite(keys)
      this.#health.up('commands')
    } catch (err) {
      this.#dirty = true
      this.#health.down('commands', 'a registry command failed', err as Error)
    }
  }

  /** Writes this instance's entries again from what it holds, in one transaction. */
  async #rewrite ([, sessions, counts]: string[]): Promise<void> {
    const { heartbeatTtlMs, commandTimeoutMs } = this.#config
    // The writes still queued are in what it holds: the rewrite makes them, and their batch
    // must not apply them again (an add would count twice); it settles with the rewrite.
    const covered = this.#batch
    this.#batch = undefined
    const m = this.#client.multi().del(sessions as string, counts as string)
    if (this.#mine.size > 0) {
      m.hset(sessions as string, Object.fromEntries([...this.#mine].map(([id, info]) => [id, JSON.stringify(info)])))
      m.pexpire(sessions as string, heartbeatTtlMs)
    }
    // The mark goes with every rewrite, whatever the instance holds: its absence tells a loss.
    m.hset(counts as string, { ...Object.fromEntries(this.#counts), [WRITTEN_MARK]: '1' })
    m.pexpire(counts as string, heartbeatTtlMs)
    this.#stored = this.#mine.size
    const done = timed(m.exec(), commandTimeoutMs, 'rewrite')
    if (covered !== undefined) covered.rewrite = done
    await done
    this.#dirty = false
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
      const batch: Batch = { args: [this.#config.instance, this.#config.heartbeatTtlMs, '0'], writes: 0, sessions: 0, what: new Set(), counts: new Map(), send, done: undefined as unknown as Promise<void> }
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

  /** What the queued batch changes in a principal's count (it exists: a write was just queued). */
  #pendingCount (key: string, change: number): void {
    const counts = (this.#batch as Batch).counts
    counts.set(key, (counts.get(key) ?? 0) + change)
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
    this.#stored += batch.sessions
    let applied: unknown
    try {
      applied = await timed(APPLY.run(this.#client, keys, batch.args), commandTimeoutMs, [...batch.what].join(', '))
    } catch (err) {
      this.#dirty = true
      throw err
    }
    if (applied === 1 || this.#closed) return
    // Redis lost this instance's keys: everything it holds (this batch's writes included) is
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
  /** what its writes change in each principal's count, for `count()` while it waits */
  readonly counts: Map<string, number>
  /** sends it now instead of at the end of its delay */
  readonly send: () => void
  /** set when a rewrite of every entry was sent before it: it settles with that, sends nothing */
  rewrite?: Promise<unknown>
  done: Promise<void>
}
