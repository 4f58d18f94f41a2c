import type { Test } from 'tap'
import { Cluster as ClusterClass, type Cluster, type Redis } from 'ioredis'
import type { Revocation, SessionInfo, WindowCounts } from '@wsguard/core'
import { until } from '@wsguard/testing'
import { redisStores, type RedisStores, type RedisStoresOptions } from '../src/index.js'
import { deleteKeys, principal, revocation, testPrefix } from './helpers.js'

export const info = (id: string, sub: string | null, issuer = 'https://idp.test'): SessionInfo => ({
  id, route: '/feed', remoteAddress: '127.0.0.1', principal: sub === null ? null : principal(sub, { issuer }), openedAt: 1, deadline: 2, instance: 'x'
})

/**
 * The stores' behaviour on one Redis deployment; `connect` makes a client of it (a Redis, or
 * a Cluster). Each test has its own key prefix, and its keys are deleted in teardown.
 */
export function storeSuite (t: Test, connect: () => Redis | Cluster): void {
  interface Setup { client: Redis | Cluster, tag: string, make: (o?: RedisStoresOptions) => Promise<RedisStores> }
  async function setup (t: Test, opts: RedisStoresOptions = {}): Promise<Setup> {
    const keyPrefix = testPrefix()
    const client = connect()
    t.teardown(async () => {
      await deleteKeys(client, keyPrefix)
      client.disconnect()
    })
    const make = async (o: RedisStoresOptions = {}): Promise<RedisStores> => {
      const stores = redisStores({ client }, { keyPrefix, ...opts, ...o })
      t.teardown(() => stores.close())
      await stores.ready()
      return stores
    }
    return { client, tag: `{${keyPrefix}}`, make }
  }

  t.test('a revocation reaches every instance\'s subscribers and mirror; isRevoked answers at once', async (t) => {
    const { make } = await setup(t)
    const a = await make()
    const b = await make()
    const seen: Revocation[] = []
    b.revocations.subscribe((r) => seen.push(r))
    const unsubscribed: Revocation[] = []
    a.revocations.subscribe((r) => unsubscribed.push(r))()
    const now = Date.now()
    await a.revocations.revoke(revocation({ subject: 'alice', issuer: 'https://idp.test' }))
    t.equal(a.revocations.isRevoked(principal('alice'), now), true, 'on the issuing instance as soon as revoke() resolves')
    await until(() => seen.length === 1, 'B delivered it')
    t.same(seen[0]?.filter, { issuer: 'https://idp.test', subject: 'alice' })
    t.equal(unsubscribed.length, 0)
    const answer = b.revocations.isRevoked(principal('alice'), now)
    t.equal(answer, true, 'a boolean, not a promise: no Redis round trip')
    t.equal(b.revocations.isRevoked(principal('alice', { issuer: 'https://other.test' }), now), false)
    t.equal(b.revocations.isRevoked(principal('alice', { claims: { iat: now / 1000 + 60 } }), now), false, 'a token issued after')
    await a.revocations.revoke(revocation({ tokenId: 'jti-1' }))
    await a.revocations.revoke(revocation({ sessionId: 'sid-bob' }))
    await a.revocations.revoke(revocation({ issuer: 'https://bad.test' }))
    await a.revocations.revoke(revocation({ sessionId: 'sid-erin', issuer: 'https://idp.test' }))
    await until(() => b.revocations.size === 5, 'B mirrored all five')
    t.equal(b.revocations.isRevoked(principal('erin'), now), true, 'a session of one issuer')
    t.equal(b.revocations.isRevoked(principal('erin', { issuer: 'https://other.test' }), now), false, 'the same sid at another issuer')
    t.equal(b.revocations.isRevoked(principal('carol', { tokenId: 'jti-1' }), now), true)
    t.equal(b.revocations.isRevoked(principal('bob'), now), true)
    t.equal(b.revocations.isRevoked(principal('dave', { issuer: 'https://bad.test' }), now), true)
    t.equal(b.revocations.isRevoked(principal('dave', { issuer: undefined }), now), false)
    t.equal(b.revocations.isRevoked(principal('carol'), now + 120_000), false, 'past until')
  })

  t.test('ready() waits for the command connection too: counts work once it resolves', async (t) => {
    const { client, make } = await setup(t)
    t.not(client.status, 'ready', 'a client just made is still connecting')
    const a = await make()
    t.equal(client.status, 'ready')
    t.equal(counted(await a.counters.hit('k', 60_000, 0)), 1, 'the first count after ready() is counted')
    await t.resolves(a.ready(), 'and ready() resolves again')
  })

  t.test('a fresh instance loads the records kept; their key lives no longer than the latest until', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make()
    const until1 = Date.now() + 30_000
    await a.revocations.revoke(revocation({ subject: 'alice' }, until1))
    await a.revocations.revoke(revocation({ subject: 'gone' }, Date.now() - 1))
    const fresh = await make()
    t.equal(fresh.revocations.isRevoked(principal('alice'), Date.now()), true)
    t.equal(fresh.revocations.isRevoked(principal('gone'), Date.now()), false)
    const ttl = await client.pttl(`${tag}revoked`)
    t.ok(ttl > 0 && ttl <= until1 - Date.now() + 50, `the records' TTL (${ttl} ms) ends with the latest until`)
    t.equal(await client.zcard(`${tag}revoked`), 1, 'the expired record was dropped')
  })

  t.test('the stream is bounded, and entries that are not revocations are skipped', async (t) => {
    const { client, tag, make } = await setup(t, { streamMaxLen: 100 })
    const a = await make()
    const b = await make()
    await client.xadd(`${tag}revocations`, '*', 'r', '{"not":"a revocation"}')
    await client.xadd(`${tag}revocations`, '*', 'r', 'not json')
    await client.xadd(`${tag}revocations`, '*', 'other', 'x')
    for (let i = 0; i < 400; i++) await a.revocations.revoke(revocation({ tokenId: `jti-${i}` }))
    await until(() => b.revocations.size === 400, 'B mirrored every revocation')
    const length = await client.xlen(`${tag}revocations`)
    t.ok(length < 400, `trimmed to about 100 (${length})`)
  })

  t.test('an id is claimed once across instances until its until; release frees it; racing claims, one wins', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make()
    const b = await make()
    const end = Date.now() + 30_000
    t.equal(await a.replays.claim('bcl:x', end), true, 'first use')
    t.equal(await b.replays.claim('bcl:x', end), false, 'replayed to B')
    t.equal(await a.replays.claim('bcl:x', end), false, 'replayed to A')
    const ttl = await client.pttl(`${tag}replay:bcl:x`)
    t.ok(ttl > 28_000 && ttl <= 30_000, `the key lives until the id's until (${ttl} ms)`)
    await a.replays.release('bcl:x')
    t.equal(await b.replays.claim('bcl:x', end), true, 'released: a retry is no replay')
    const answers = await Promise.all([a, b, a, b, a, b].map((s) => s.replays.claim('bcl:race', end)))
    t.equal(answers.filter((first) => first).length, 1, 'exactly one of six racing claims wins')
    t.equal(await a.replays.claim('bcl:past', Date.now() - 5), true, 'an until already past keeps the key for 1 ms')
    await until(async () => await client.exists(`${tag}replay:bcl:past`) === 0, 'and it expires')
    for (const [id, end2] of [['', end], ['x'.repeat(257), end], ['x', Number.NaN]] as const) {
      await t.rejects(a.replays.claim(id, end2), { name: 'TypeError', message: /@wsguard\/redis replays:/ })
    }
    await t.rejects(a.replays.release(''), { name: 'TypeError' })
  })

  t.test('a ticket is consumed once across instances; its key lives its TTL; racing consumers, one gets it', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make()
    const b = await make()
    const record = { principal: principal('alice'), path: '/feed', origin: 'https://app.test', expiresAt: Date.now() + 30_000 }
    await a.tickets.issue('t1', record, 30_000)
    const ttl = await client.pttl(`${tag}ticket:t1`)
    t.ok(ttl > 28_000 && ttl <= 30_000, `the key lives its TTL (${ttl} ms)`)
    t.same(await b.tickets.consume('t1'), record, 'B gets what A issued, whole')
    t.equal(await a.tickets.consume('t1'), undefined, 'used up, on A too')
    t.equal(await client.exists(`${tag}ticket:t1`), 0, 'GETDEL removed it')
    await a.tickets.issue('race', record, 30_000)
    const got = await Promise.all([a, b, a, b, a, b].map((s) => s.tickets.consume('race')))
    t.equal(got.filter((r) => r !== undefined).length, 1, 'exactly one of six racing consumers gets it')
    await t.rejects(a.tickets.issue('t2', record, 30_000).then(() => b.tickets.issue('t2', record, 30_000)), { message: /a ticket with this id is already waiting/ })
    await a.tickets.issue('short', record, 1)
    await until(async () => await client.exists(`${tag}ticket:short`) === 0, 'a ticket past its TTL is gone')
    t.equal(await b.tickets.consume('short'), undefined)
    await client.set(`${tag}ticket:bad`, 'null')
    await t.rejects(a.tickets.consume('bad'), { message: /the stored record is not an object/ })
    await client.set(`${tag}ticket:worse`, '{not json')
    await t.rejects(a.tickets.consume('worse'), { name: 'SyntaxError' })
    for (const id of ['', 'x'.repeat(129), 'a:b', 7]) {
      await t.rejects(a.tickets.consume(id as string), { name: 'TypeError', message: /@wsguard\/redis tickets: an id is/ })
    }
    for (const ttlMs of [0, 1.5, Number.NaN]) {
      await t.rejects(a.tickets.issue('t3', record, ttlMs), { name: 'TypeError', message: /ttlMs is a whole number of ms/ })
    }
  })

  t.test('sessions are listed and counted across instances, per issuer and subject', async (t) => {
    const { make } = await setup(t)
    const a = await make()
    const b = await make()
    await a.registry.add(info('a1', 'alice'))
    await a.registry.add(info('a2', 'alice', 'https://other.test'))
    await b.registry.add(info('b1', 'alice'))
    await b.registry.add(info('b2', null))
    t.equal(await a.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 2)
    t.equal(await b.registry.count({ subject: 'alice', issuer: 'https://other.test' }), 1)
    t.equal(await b.registry.count({ subject: 'alice' }), 0, 'no issuer is a principal of its own')
    t.equal((await b.registry.list()).length, 4)
    t.same((await b.registry.list({ subject: 'alice', issuer: 'https://idp.test' })).map((s) => s.id).sort(), ['a1', 'b1'])
    t.same((await b.registry.list({ sessionId: 'b2' })).map((s) => s.id), ['b2'])
    t.same((await b.registry.list({ sessionId: 'sid-alice', issuer: 'https://other.test' })).map((s) => s.id), ['a2'])
    t.same((await b.registry.list({ sessionId: 'b2', issuer: 'https://idp.test' })).map((s) => s.id), [], 'an anonymous session has no issuer')
    t.same((await b.registry.list({ tokenId: 'none' })).map((s) => s.id), [])
    t.same((await b.registry.list({ issuer: 'https://other.test' })).map((s) => s.id), ['a2'])
    await a.registry.update({ ...info('a1', 'alice'), deadline: 99 })
    await a.registry.update(info('unknown', 'alice'))
    t.equal((await b.registry.list({ sessionId: 'a1' }))[0]?.deadline, 99)
    await a.registry.remove('a1')
    await a.registry.remove('a1')
    await b.registry.remove('b2')
    t.equal(await b.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 1)
    t.equal(a.registry.size, 1)
    await a.close()
    t.equal(await b.registry.count({ subject: 'alice', issuer: 'https://other.test' }), 0, 'a closed instance removed its sessions')
    t.equal((await b.registry.list()).length, 1)
  })

  t.test('an instance whose keys were lost writes its sessions again at its next heartbeat', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make({ instance: 'inst-a' })
    await a.registry.add(info('a1', 'alice'))
    await client.del(`${tag}s:inst-a`, `${tag}c:inst-a`)
    t.equal((await a.registry.list()).length, 0, 'Redis holds none of its sessions')
    await t.rejects(a.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), { message: /lost this instance's session registry keys/ }, 'a count from what is left would be short: refused')
    await a.registry.heartbeat()
    t.equal((await a.registry.list()).length, 1, 'written again (the refused count asked for it at once)')
    t.equal(await client.exists(`${tag}registry:lost`), 1, 'and marked: other instances\' keys may be gone too')
  })

  t.test('an instance that dies without cleaning up drops out, and its keys expire', async (t) => {
    const { client, tag, make } = await setup(t, { heartbeatMs: 50, heartbeatTtlMs: 300 })
    const survivor = await make()
    const deadClient = connect()
    const dead = redisStores({ client: deadClient }, { keyPrefix: tag.slice(1, -1), heartbeatMs: 50, heartbeatTtlMs: 300, instance: 'dead' })
    await dead.ready()
    await dead.registry.add(info('d1', 'alice'))
    t.equal(await survivor.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 1)
    // Its connection is gone: no heartbeat reaches Redis any more, nothing is cleaned up.
    deadClient.disconnect()
    await until(async () => await survivor.registry.count({ subject: 'alice', issuer: 'https://idp.test' }) === 0, 'the dead instance dropped out', { timeoutMs: 5_000 })
    t.equal((await survivor.registry.list()).length, 0)
    await until(async () => await client.exists(`${tag}s:dead`, `${tag}c:dead`) === 0, 'its keys expired', { timeoutMs: 5_000 })
    await dead.close()
  })

  t.test('counters count every instance\'s events in shared windows on Redis\'s clock, each key with a TTL', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make()
    const b = await make()
    const hour = 3_600_000
    let last: WindowCounts | undefined
    for (let i = 0; i < 6; i++) last = await a.counters.hit('ip 10.0.0.1', hour, 0)
    for (let i = 0; i < 5; i++) last = await b.counters.hit('ip 10.0.0.1', hour, 0)
    const c = last as WindowCounts
    t.equal(c.current + c.previous, 11, 'eleven, on two instances (in this window and, at an hour boundary, the one before)')
    t.equal(c.start % hour, 0, 'windows start at multiples of windowMs')
    t.ok(c.elapsedMs >= 0 && c.elapsedMs < hour)
    t.ok(Math.abs(c.start + c.elapsedMs - Date.now()) < 5_000, 'on Redis\'s clock, not the caller\'s now (0)')
    t.equal(counted(await b.counters.hit('ip 10.0.0.2', hour, 0, 3)), 3, 'an amount, another key')
    t.equal(counted(await a.counters.hit('ip 10.0.0.2', hour, 0, 0)), 3, 'amount 0 reads')
    await a.counters.hit('ip 10.0.0.1', 60_000, 0)
    const keys = (await scanKeys(client, tag)).filter((k) => k.startsWith(`${tag}n:`)).sort()
    t.same(keys, [`${tag}n:${hour}`, `${tag}n:${hour}:=ip 10.0.0.1`, `${tag}n:${hour}:=ip 10.0.0.2`, `${tag}n:60000`, `${tag}n:60000:=ip 10.0.0.1`])
    for (const k of keys) {
      const ttl = await client.pttl(k)
      t.ok(ttl > 0, `${k} expires (${ttl} ms)`)
      if (k.startsWith(`${tag}n:${hour}:`)) t.ok(ttl <= 2 * hour, 'two windows at most')
    }
  })

  t.test('counter keys are bounded: a long or unprintable key is hashed, and still its own', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make()
    const long = `principal https://idp.test ${'x'.repeat(5_000)}`
    await a.counters.hit(long, 60_000, 0)
    await a.counters.hit(long, 60_000, 0)
    t.match(await a.counters.hit(`${long}y`, 60_000, 0), { current: 1 }, 'another long key counts apart')
    t.equal(counted(await a.counters.hit(long, 60_000, 0)), 3)
    await a.counters.hit('principal \n\u0000 x', 60_000, 0)
    const keys = (await scanKeys(client, tag)).filter((k) => k.startsWith(`${tag}n:60000:`))
    t.equal(keys.length, 3)
    for (const k of keys) t.match(k, /^\{[^}]+\}n:60000:#[A-Za-z0-9_-]{43}$/, 'a SHA-256 in base64url')
    t.throws(() => a.counters.hit('k', 0, 0), { name: 'TypeError', message: /windowMs must be an integer ≥ 1/ })
    t.throws(() => a.counters.hit('k', 1_000, 0, -1), { name: 'TypeError' })
  })

  t.test('a counter keeps two windows: older ones are dropped, the previous one is carried, the key expires', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make()
    const w = 40
    const first = await a.counters.hit('k', w, 0) as WindowCounts
    let next = first
    // Counting on until Redis's clock is three windows on (no fixed sleep: each answer says where it is).
    while (next.start < first.start + 3 * w) {
      const c = await a.counters.hit('k', w, 0) as WindowCounts
      if (c.start === next.start + w) t.equal(c.previous, next.current, 'the window just ended is the previous one')
      else if (c.start > next.start) t.equal(c.previous, 0, 'a window with nothing counted in it')
      next = c
    }
    t.ok(await client.hlen(`${tag}n:${w}:=k`) <= 2, 'at most the current and the previous window are kept')
    t.ok(await client.pttl(`${tag}n:${w}:=k`) <= 2 * w)
    await until(async () => await client.exists(`${tag}n:${w}:=k`, `${tag}n:${w}`) === 0, 'the key and its list expired two windows after the last count')
  })

  t.test('counter keys are bounded per window length: past maxCounterKeys the least recently counted is evicted', async (t) => {
    const { client, tag, make } = await setup(t, { maxCounterKeys: 3 })
    const a = await make()
    const b = await make()
    // Each count on a later millisecond of Redis's clock, so "least recently" has one answer.
    const later = async (): Promise<void> => {
      const [s, us] = await client.time()
      const ms = Number(s) * 1000 + Math.floor(Number(us) / 1000)
      await until(async () => { const [s2, us2] = await client.time(); return Number(s2) * 1000 + Math.floor(Number(us2) / 1000) > ms }, 'the next millisecond')
    }
    for (const k of ['k1', 'k2', 'k3', 'k1']) {
      await a.counters.hit(k, 60_000, 0)
      await later()
    }
    await b.counters.hit('k4', 60_000, 0)
    t.equal(await client.zcard(`${tag}n:60000`), 3)
    t.equal(await client.exists(`${tag}n:60000:=k2`), 0, 'k2, counted least recently, was evicted, by another instance')
    t.equal(await client.exists(`${tag}n:60000:=k1`, `${tag}n:60000:=k3`, `${tag}n:60000:=k4`), 3)
    t.equal(counted(await a.counters.hit('k1', 60_000, 0)), 3, 'a kept key keeps its count')
    t.match(await a.counters.hit('k2', 60_000, 0), { current: 1 }, 'an evicted key starts again')
    t.equal((await scanKeys(client, tag)).filter((k) => k.startsWith(`${tag}n:60000:`)).length, 3)
  })
}

/**
 * What a fixed-window counter holds for a key: this window and the one before, so that a test
 * crossing a window boundary (a minute, on Redis's clock) counts the same.
 */
export function counted (c: WindowCounts | undefined): number {
  const { current, previous } = c as WindowCounts
  return current + previous
}

/** Every key under a hash tag (on each master of a Cluster). */
async function scanKeys (client: Redis | Cluster, tag: string): Promise<string[]> {
  const nodes = client instanceof ClusterClass ? client.nodes('master') : [client]
  const found: string[] = []
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${tag}*`, 'COUNT', 1000)
      cursor = next
      found.push(...keys)
    } while (cursor !== '0')
  }
  return found
}
