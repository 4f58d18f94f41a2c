import t, { type Test } from 'tap'
import type { Cluster, Redis } from 'ioredis'
import { connectSocket, openSocket, until, type Refusal } from '@wsguard/testing'
import { redisStores, type RedisStores } from '../src/index.js'
import { instance, token } from './app.js'
import { REDIS_URL, testClient, testPrefix } from './helpers.js'
import { info } from './suite.js'

// Redis loses an instance's registry keys (FLUSHALL, a restart without persistence, a failover to
// a replica that never had them; here the prefix's keys are deleted, as FLUSHALL would) and before
// that instance's next heartbeat one more session opens on it. Found by session 20's adversarial
// review: APPLY re-created the sessions hash, so BEAT's PEXPIRE answered 1, nothing was written
// again, and every older session of that instance was missing from count() and list() for good
// (the cap across instances bypassed). Now every rewrite marks the counts hash, APPLY and BEAT
// tell a loss by the mark's absence (or a sessions hash missing where there should be one), and
// the instance writes everything it holds again at once. Since session 27 no count is given
// for a while after a loss (registry-count-whole.test.ts): these tests wait that out.

const ALICE = { subject: 'alice', issuer: 'https://idp.test' }

/**
 * Heartbeats close together, so that the time no count is given after a loss (`heartbeatMs` +
 * 2 × `commandTimeoutMs`, for every instance to write itself again) is a second, not seven.
 */
const QUICK = { heartbeatMs: 200, commandTimeoutMs: 400 }

/** Instance inst-a on its own key prefix, holding two sessions of alice's; its own client when asked. */
async function aliceTwice (t: Test, own = false): Promise<{ a: RedisStores, client: Redis | Cluster, sessions: string, counts: string, instances: string, lost: string }> {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix)
  const a = redisStores(own ? { client: client as Redis } : { url: REDIS_URL }, { keyPrefix, instance: 'inst-a', ...QUICK })
  t.teardown(() => a.close())
  await a.ready()
  await a.registry.add(info('a1', 'alice'))
  await a.registry.add(info('a2', 'alice'))
  return { a, client, sessions: `{${keyPrefix}}s:inst-a`, counts: `{${keyPrefix}}c:inst-a`, instances: `{${keyPrefix}}instances`, lost: `{${keyPrefix}}registry:lost` }
}

/** After a loss: no count is given for a while, then the registry is whole again. */
async function countRefusedUntilWhole (t: Test, a: RedisStores, client: Redis | Cluster, lost: string): Promise<void> {
  await t.rejects(a.registry.count(ALICE), { message: /being written again after Redis lost it/ }, 'no count while other instances may still be missing')
  const ttl = await client.pttl(lost)
  t.ok(ttl > 0 && ttl <= QUICK.heartbeatMs + 2 * QUICK.commandTimeoutMs, `for heartbeatMs + 2 × commandTimeoutMs at most (${ttl} ms left)`)
  await until(async () => await client.exists(lost) === 0, 'the registry whole again', { timeoutMs: 5_000 })
}

t.test('store: keys lost, then one add before the heartbeat: the older sessions are written again with it', async (t) => {
  const { a, client, sessions, counts, lost } = await aliceTwice(t)
  t.equal(await a.registry.count(ALICE), 2)
  await client.del(sessions, counts)
  await a.registry.add(info('b1', 'bob'))
  for (let i = 0; i < 3; i++) await a.registry.heartbeat()
  t.equal(a.registry.size, 3, 'the instance holds 3 sessions')
  await countRefusedUntilWhole(t, a, client, lost)
  const n = await a.registry.count(ALICE)
  t.equal(n, 2, `alice's sessions counted across instances: got ${n}, want 2`)
  const listed = (await a.registry.list()).length
  t.equal(listed, 3, `sessions listed: got ${listed}, want 3`)
})

t.test('app: maxSessionsPerPrincipal 2 across A and B still holds after Redis lost A\'s keys and a handshake came to A', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix)
  const storesA = redisStores({ url: REDIS_URL }, { keyPrefix, instance: 'inst-a', ...QUICK })
  const storesB = redisStores({ url: REDIS_URL }, { keyPrefix, instance: 'inst-b', ...QUICK })
  t.teardown(() => storesA.close())
  t.teardown(() => storesB.close())
  await Promise.all([storesA.ready(), storesB.ready()])
  const a = await instance(t, storesA, { cap: 2 })
  const b = await instance(t, storesB, { cap: 2 })
  const open = (url: string, tok: string) => openSocket(url, { token: tok, teardown: (fn) => t.teardown(fn) })
  const attempt = async (): Promise<string> => {
    const r = await connectSocket(b.url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
    return 'refused' in r ? `refused ${(r as Refusal).status}` : 'opened'
  }
  await open(a.url, token('alice'))
  await open(a.url, token('alice'))
  // A's writes reach Redis up to REGISTRY_WRITE_DELAY_MS later
  await until(async () => await storesB.registry.count(ALICE) === 2, 'A\'s sessions in Redis')
  t.equal(await attempt(), 'refused 429', 'the cap holds before the loss')
  await client.del(`{${keyPrefix}}s:inst-a`, `{${keyPrefix}}c:inst-a`)
  // A handshake on A itself: A's count finds its own keys gone, refuses, and writes them again.
  const bob = await connectSocket(a.url, { token: token('bob'), teardown: (fn) => t.teardown(fn) }) as Refusal
  t.equal(bob.status, 503, 'A gives no count from what Redis has left of it')
  await until(async () => await client.exists(`{${keyPrefix}}s:inst-a`) === 1, 'A\'s sessions written again')
  await storesA.registry.heartbeat()
  t.equal(await attempt(), 'refused 503', 'until every instance could write itself again, B gives no count: 503, not a pass')
  await until(async () => await client.exists(`{${keyPrefix}}registry:lost`) === 0, 'the registry whole again', { timeoutMs: 5_000 })
  const opened: string[] = []
  for (let i = 0; i < 3; i++) opened.push(await attempt())
  t.same(opened, ['refused 429', 'refused 429', 'refused 429'], `alice already holds 2 sockets on A; B answered: ${opened.join(', ')}`)
})

// The counts hash alone lost (maxmemory with a volatile-* or allkeys-* policy evicts it: every
// registry key has a TTL): BEAT used to tell a loss only by the sessions hash's PEXPIRE.
t.test('store: the counts hash alone lost (evicted) is written again at the next heartbeat', async (t) => {
  const { a, client, counts, lost } = await aliceTwice(t)
  await client.del(counts)
  for (let i = 0; i < 3; i++) await a.registry.heartbeat()
  await countRefusedUntilWhole(t, a, client, lost)
  const n = await a.registry.count(ALICE)
  t.equal(n, 2, `alice's sessions counted after three heartbeats: got ${n}, want 2`)
})

// The sessions hash alone evicted, then one add before the heartbeat: APPLY would have made a
// sessions hash holding only the new session, which BEAT's PEXPIRE then finds.
t.test('store: the sessions hash alone lost, then one add: every session is listed again', async (t) => {
  const { a, client, sessions } = await aliceTwice(t)
  await client.del(sessions)
  await a.registry.add(info('b1', 'bob'))
  t.same((await a.registry.list()).map((s) => s.id).sort(), ['a1', 'a2', 'b1'], 'written again with the add, before any heartbeat')
})

t.test('store: keys lost and Redis refusing the rewrite: the write rejects, and a later heartbeat writes everything', async (t) => {
  const { a, client, sessions, counts, lost } = await aliceTwice(t, true)
  // Every transaction (the rewrite) fails from now on, as if Redis refused it.
  const multi = client.multi.bind(client)
  ;(client as unknown as { multi: () => unknown }).multi = () => {
    const m = multi()
    m.exec = () => Promise.reject(new Error('EXECABORT refused by the test'))
    return m
  }
  await client.del(sessions, counts)
  await t.rejects(a.registry.add(info('a3', 'alice')), /registry keys were lost and could not be written again \(add\)/)
  ;(client as unknown as { multi: () => unknown }).multi = multi
  await a.registry.heartbeat()
  t.same((await a.registry.list()).map((s) => s.id).sort(), ['a1', 'a2', 'a3'])
  await countRefusedUntilWhole(t, a, client, lost)
  t.equal(await a.registry.count(ALICE), 3)
})

// Found by the review of this change: with the app's own client (still connected after the
// stores close), a write after close() found the mark gone and brought the instance back.
t.test('a closed registry writes nothing, and stays removed', async (t) => {
  const { a, client, sessions, counts, instances } = await aliceTwice(t, true)
  // Keys lost with a write queued: its APPLY answers 0 while close() sends it.
  await client.del(sessions, counts)
  const queued = a.registry.remove('a2')
  await a.close()
  await queued
  await a.registry.add(info('a3', 'alice'))
  await a.registry.update(info('a1', 'alice'))
  await a.registry.remove('a1')
  await a.registry.heartbeat()
  t.same(await client.zrange(instances, '0', '-1'), [], 'not listed as live')
  t.equal(await client.exists(sessions, counts), 0, 'no keys of its own')
})
