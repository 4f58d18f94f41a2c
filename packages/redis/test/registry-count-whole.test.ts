import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { connectSocket, openSocket, until, type Refusal, type SocketClient } from '@wsguard/testing'
import { redisStores, type RedisConnection, type RedisStores, type RedisStoresOptions } from '../src/index.js'
import { instance, token } from './app.js'
import { REDIS_URL, deleteKeys, testClient, testPrefix } from './helpers.js'
import { info } from './suite.js'

// Session 26's adversarial review got one principal past maxSessionsPerPrincipal with the Redis
// registry three ways, each because count() summed what Redis held without asking whether it
// held everything: another instance's keys lost (FLUSHALL, eviction) counted as zero sessions
// until that instance's next heartbeat; a failover to a replica missing the last writes, whose
// mark was still there, undercounted for as long as the sessions stayed open; and a write sent
// but not yet applied (EVALSHA answered NOSCRIPT and was sent again as EVAL) was counted
// neither as queued nor in Redis. Now an instance counts its own sessions as it holds them and
// asks Redis only for the others', each write carries its number in the mark, and a count that
// cannot be whole is refused.

const ALICE = { subject: 'alice', issuer: 'https://idp.test' }
/** heartbeats close together: the time no count is given after a loss is a second */
const QUICK = { heartbeatMs: 200, commandTimeoutMs: 400 }

const attempt = (t: Test, url: string): Promise<SocketClient | Refusal> => connectSocket(url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
const outcome = (r: SocketClient | Refusal): string => 'refused' in r ? `refused ${r.status}` : 'opened'

/** Ready stores of instance `inst-a` (unless `opts` names another) on the test's prefix, closed in teardown. */
async function storesOn (t: Test, keyPrefix: string, opts: RedisStoresOptions = {}, connection: RedisConnection = { url: REDIS_URL }): Promise<RedisStores> {
  const stores = redisStores(connection, { keyPrefix, instance: 'inst-a', ...opts })
  t.teardown(() => stores.close())
  await stores.ready()
  return stores
}

/** A new prefix, with a client of the test's own on it (its keys deleted in teardown). */
function prefixed (t: Test): { keyPrefix: string, client: Redis } {
  const keyPrefix = testPrefix()
  return { keyPrefix, client: testClient(t, keyPrefix) as Redis }
}

async function twoInstances (t: Test): Promise<{ keyPrefix: string, client: Redis, storesA: RedisStores, storesB: RedisStores }> {
  const { keyPrefix, client } = prefixed(t)
  const [storesA, storesB] = await Promise.all([storesOn(t, keyPrefix, QUICK), storesOn(t, keyPrefix, { instance: 'inst-b', ...QUICK })])
  return { keyPrefix, client, storesA, storesB }
}

/** One instance (default heartbeat, 5 s: what the test sees is not the interval's doing), alice's session open on it. */
async function oneInstance (t: Test): Promise<{ keyPrefix: string, client: Redis, stores: RedisStores, url: string, sessions: () => number }> {
  const { keyPrefix, client } = prefixed(t)
  const stores = await storesOn(t, keyPrefix)
  const a = await instance(t, stores, { cap: 2 })
  await openSocket(a.url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
  return { keyPrefix, client, stores, url: a.url, sessions: () => a.app.wsSessions.size }
}

t.test('another instance\'s keys lost: its sessions are not counted as none (503, never a pass), then the cap holds again', async (t) => {
  const { keyPrefix, client, storesA, storesB } = await twoInstances(t)
  const a = await instance(t, storesA, { cap: 2 })
  const b = await instance(t, storesB, { cap: 2 })
  await openSocket(a.url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
  await openSocket(a.url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
  // A's writes reach Redis up to REGISTRY_WRITE_DELAY_MS later
  await until(async () => await storesB.registry.count(ALICE) === 2, 'A\'s sessions in Redis')
  t.equal(outcome(await attempt(t, b.url)), 'refused 429', 'the cap holds before the loss')

  await client.del(`{${keyPrefix}}s:inst-a`, `{${keyPrefix}}c:inst-a`)
  const results: string[] = []
  for (let i = 0; i < 4; i++) results.push(outcome(await attempt(t, b.url)))
  t.same(results, ['refused 503', 'refused 503', 'refused 503', 'refused 503'], 'B refuses while A, still listed, has no counts in Redis')
  t.equal(b.app.wsSessions.size, 0)
  await until(async () => await client.exists(`{${keyPrefix}}c:inst-a`) === 1, 'A wrote itself again at its heartbeat', { timeoutMs: 5_000 })
  await until(async () => await client.exists(`{${keyPrefix}}registry:lost`) === 0, 'the registry whole again', { timeoutMs: 5_000 })
  t.equal(await storesB.registry.count(ALICE), 2)
  t.equal(outcome(await attempt(t, b.url)), 'refused 429', 'the cap holds after it')
  t.equal(a.app.wsSessions.size + b.app.wsSessions.size, 2, 'alice never held more than 2')
})

t.test('every key lost (FLUSHALL): an instance that wrote itself again first gives no count until the others could', async (t) => {
  const { keyPrefix, client, storesA, storesB } = await twoInstances(t)
  await storesA.registry.add(info('a1', 'alice'))
  await storesA.registry.add(info('a2', 'alice'))
  t.equal(await storesB.registry.count(ALICE), 2)
  await deleteKeys(client, keyPrefix)
  // B beats before A: the list of live instances holds B alone, and A's sessions are nowhere.
  await storesB.registry.heartbeat()
  t.equal(await client.zscore(`{${keyPrefix}}instances`, 'inst-a'), null, 'A is not listed')
  await t.rejects(storesB.registry.count(ALICE), { message: /being written again after Redis lost it/ }, 'no count of 0')
  await storesA.registry.heartbeat()
  t.equal(await client.hget(`{${keyPrefix}}c:inst-a`, '16:https://idp.testalice'), '2', 'A wrote itself again')
  await until(async () => await client.exists(`{${keyPrefix}}registry:lost`) === 0, 'the registry whole again', { timeoutMs: 5_000 })
  t.equal(await storesB.registry.count(ALICE), 2)
})

t.test('this instance\'s keys lost: concurrent handshakes get no count from what is left, and the keys are written again at once', async (t) => {
  // What writes the keys again is the refused count, not the heartbeat's interval.
  const { keyPrefix, client, stores, url, sessions } = await oneInstance(t)
  await openSocket(url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
  await stores.registry.heartbeat()
  await client.del(`{${keyPrefix}}s:inst-a`, `{${keyPrefix}}c:inst-a`)
  const results = await Promise.all([0, 1, 2].map(async () => outcome(await attempt(t, url))))
  t.equal(sessions(), 2, `alice holds 2 sockets, the cap (answers: ${results.join(', ')})`)
  t.notOk(results.includes('opened'))
  await until(async () => await client.hget(`{${keyPrefix}}c:inst-a`, '16:https://idp.testalice') === '2', 'written again before the next heartbeat', { timeoutMs: 2_000 })
})

t.test('a failover to a replica missing the last writes: the next heartbeat writes them again (the mark is a write\'s number)', async (t) => {
  const { keyPrefix, client, stores, url, sessions: open } = await oneInstance(t)
  await stores.registry.heartbeat()
  const sessions = `{${keyPrefix}}s:inst-a`
  const counts = `{${keyPrefix}}c:inst-a`
  const replica = { sessions: await client.hgetall(sessions), counts: await client.hgetall(counts) }
  await openSocket(url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
  await until(async () => await client.hget(counts, '16:https://idp.testalice') === '2', 'both written')
  // What the replica holds: the first session only, with the mark of the write that added it.
  await client.multi().del(sessions, counts).hset(sessions, replica.sessions).hset(counts, replica.counts).pexpire(sessions, 15_000).pexpire(counts, 15_000).exec()
  t.equal(outcome(await attempt(t, url)), 'refused 429', 'this instance counts its own sessions as it holds them')
  await stores.registry.heartbeat()
  t.equal(await client.hget(counts, '16:https://idp.testalice'), '2', 'written again: other instances count both')
  t.equal(await client.hlen(sessions), 2)
  t.equal(open(), 2)
})

t.test('a write sent and not yet applied (EVALSHA answered NOSCRIPT, sent again as EVAL) is counted: cap 1 holds', async (t) => {
  const { keyPrefix } = prefixed(t)
  const own = new Redis(REDIS_URL)
  t.teardown(() => { own.disconnect() })
  const stores = await storesOn(t, keyPrefix, {}, { client: own })
  const a = await instance(t, stores, { cap: 1 })
  // The registry's writes (APPLY: three keys, the second this instance's sessions) are held on
  // their way to Redis until released, as a NOSCRIPT answer and the EVAL sent after it would.
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  let held = 0
  const evalsha = own.evalsha.bind(own) as (...a: unknown[]) => Promise<unknown>
  ;(own as unknown as { evalsha: (...a: unknown[]) => Promise<unknown> }).evalsha = (...args: unknown[]) => {
    if (Number(args[1]) !== 3 || args[3] !== `{${keyPrefix}}s:inst-a`) return evalsha(...args)
    held++
    return gate.then(() => evalsha(...args))
  }
  await openSocket(a.url, { token: token('alice'), teardown: (fn) => t.teardown(fn) })
  await until(() => held === 1, 'the write of alice\'s session was sent', { timeoutMs: 2_000 })
  t.equal(outcome(await attempt(t, a.url)), 'refused 429', 'the session on its way to Redis is counted')
  release()
  await until(async () => await stores.registry.count(ALICE) === 1, 'applied')
  t.equal(a.app.wsSessions.size, 1)
})

t.test('fail-open: a count that cannot be whole is this instance\'s own, as when Redis fails', async (t) => {
  const { keyPrefix, client } = prefixed(t)
  const [a, b] = await Promise.all([storesOn(t, keyPrefix, QUICK), storesOn(t, keyPrefix, { instance: 'inst-b', onUnavailable: 'fail-open', ...QUICK })])
  await a.registry.add(info('a1', 'alice'))
  await b.registry.add(info('b1', 'alice'))
  t.equal(await b.registry.count(ALICE), 2)
  await client.del(`{${keyPrefix}}c:inst-a`)
  t.equal(await b.registry.count(ALICE), 1, 'B\'s own session only')
})

// Found by the review of this change: a session added without a principal and updated with one
// (an app's principal set after the upgrade on a route without authentication, then an in-band
// refresh) was uncounted under the principal it held at its end. The in-memory count became
// NaN, and every later handshake of that principal passed the cap (NaN >= max is false).
t.test('a session is uncounted under the principal it was counted under, whatever update() put in its entry', async (t) => {
  const { keyPrefix, client } = prefixed(t)
  const stores = await storesOn(t, keyPrefix)
  await stores.registry.add(info('s1', null))
  await stores.registry.update(info('s1', 'alice'))
  await stores.registry.add(info('s2', 'bob'))
  await stores.registry.update(info('s2', 'carol'))
  await stores.registry.add(info('s2', 'dave')) // an id held already: replaced, counted as it was
  t.equal(await stores.registry.count(ALICE), 0, 'alice\'s entry was never counted')
  t.equal(await stores.registry.count({ subject: 'bob', issuer: 'https://idp.test' }), 1)
  t.equal(await stores.registry.count({ subject: 'dave', issuer: 'https://idp.test' }), 0)
  await stores.registry.remove('s1')
  await stores.registry.remove('s2')
  t.equal(await stores.registry.count(ALICE), 0, 'a number, not NaN')
  t.equal(await stores.registry.count({ subject: 'bob', issuer: 'https://idp.test' }), 0)
  await stores.registry.add(info('s3', 'alice'))
  t.equal(await stores.registry.count(ALICE), 1)
  await stores.registry.heartbeat()
  const { '#': mark, ...counted } = await client.hgetall(`{${keyPrefix}}c:inst-a`)
  t.match(mark, /^\d+$/, 'the write mark')
  t.same(counted, { '16:https://idp.testalice': '1' }, 'Redis counts alice once, and nobody else')
})

t.test('the review\'s case: a principal set after the upgrade, then refreshed in-band, leaves the cap whole', async (t) => {
  const stores = await storesOn(t, prefixed(t).keyPrefix)
  // A route without authentication where the app signs the client in after the upgrade.
  const routes = (app: FastifyInstance): void => {
    app.get('/open', { websocket: true, config: { auth: false } }, (socket, req) => {
      socket.on('message', (data) => {
        const text = String(data)
        if (text.startsWith('{')) return
        app.wsguardAuth.authenticate(text, req).then((outcome) => {
          if (outcome.ok) req.principal = outcome.principal
          socket.send(outcome.ok ? 'signed in' : outcome.code)
        }, () => {})
      })
    })
  }
  const a = await instance(t, stores, { cap: 1, routes })
  const base = a.url.replace(/\/feed$/, '')
  const o = await openSocket(`${base}/open`, { teardown: (fn) => t.teardown(fn) })
  t.equal(await o.ask(token('alice')), 'signed in')
  t.match(await o.ask(JSON.stringify({ type: 'auth.refresh', token: token('alice', { exp: Math.floor(Date.now() / 1000) + 1200 }) })), { type: 'auth.refreshed' })
  o.ws.close()
  await o.closed
  await until(() => a.app.wsSessions.size === 0, 'its session ended')
  t.equal(await stores.registry.count(ALICE), 0)
  const answers: string[] = []
  for (let i = 0; i < 3; i++) answers.push(outcome(await attempt(t, a.url)))
  t.same(answers, ['opened', 'refused 429', 'refused 429'], 'cap 1 holds')
})

t.test('a count Redis answers below zero (a counts field that is no count) refuses, naming the answer', async (t) => {
  const { keyPrefix, client } = prefixed(t)
  const stores = await storesOn(t, keyPrefix)
  const tag = `{${keyPrefix}}`
  await client.multi().hset(`${tag}c:forged`, { '16:https://idp.testalice': '-5', '#': '1' }).zadd(`${tag}instances`, Date.now() + 60_000, 'forged').exec()
  await t.rejects(stores.registry.count(ALICE), { message: 'redis: the count script answered -5; no count is given' })
})
