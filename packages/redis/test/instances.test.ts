import t, { type Test } from 'tap'
import { connectSocket, openSocket, until, type Refusal } from '@wsguard/testing'
import { redisStores, type RedisStoresOptions } from '../src/index.js'
import { instance, token } from './app.js'
import { REDIS_URL, startRelay, testClient, testPrefix } from './helpers.js'

async function twoInstances (t: Test, opts: RedisStoresOptions = {}, cap = 0, url = REDIS_URL) {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const storesA = redisStores({ url }, { keyPrefix, ...opts })
  const storesB = redisStores({ url }, { keyPrefix, ...opts })
  t.teardown(() => storesA.close())
  t.teardown(() => storesB.close())
  await Promise.all([storesA.ready(), storesB.ready()])
  const a = await instance(t, storesA, { cap })
  const b = await instance(t, storesB, { cap })
  return { a, b, storesA, storesB }
}

const open = (t: Test, url: string, tok: string) => openSocket(url, { token: tok, teardown: (fn) => t.teardown(fn) })
const attempt = (t: Test, url: string, tok: string) => connectSocket(url, { token: tok, teardown: (fn) => t.teardown(fn) })

t.test('a revocation on A closes B\'s socket 4403, and the token is refused 401 at B\'s handshake', async (t) => {
  const { a, b } = await twoInstances(t)
  const alice = token('alice', { jti: 'tok-1' })
  const onB = await open(t, b.url, alice)
  const { closed } = await a.app.wsSessions.revoke({ subject: 'alice' })
  t.equal(closed, 0, 'A held no session of alice')
  const close = await onB.closed
  t.equal(close.code, 4403)
  t.equal(close.reason, 'access revoked')
  const again = await attempt(t, b.url, alice) as Refusal
  t.equal(again.status, 401)
  t.equal(again.body.code, 'WSG_TOKEN_REVOKED')
  t.equal(b.app.wsSessions.size, 0)
})

t.test('sessions are listed across instances, and the cap counts across A and B', async (t) => {
  const { a, b } = await twoInstances(t, {}, 2)
  await open(t, a.url, token('alice'))
  await open(t, b.url, token('alice'))
  await open(t, b.url, token('bob'))
  // B's sessions reach Redis within REGISTRY_WRITE_DELAY_MS of opening
  await until(async () => (await a.app.wsSessions.list()).length === 3, 'A sees B\'s sessions')
  const listed = await a.app.wsSessions.list({ subject: 'alice' })
  t.equal(listed.length, 2)
  const third = await attempt(t, a.url, token('alice')) as Refusal
  t.equal(third.status, 429)
  t.equal(third.body.code, 'WSG_RATE_LIMITED')
  t.equal(third.headers['retry-after'], '30')
  const onB = await attempt(t, b.url, token('alice')) as Refusal
  t.equal(onB.status, 429)
  t.equal((await b.app.wsSessions.list()).length, 3)
})

t.test('a revocation issued while B is cut off from Redis is applied when B reconnects', async (t) => {
  const relay = await startRelay(t)
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const warnings: unknown[] = []
  const logger = { warn: (o: object) => warnings.push(o), info: () => {} }
  const storesA = redisStores({ url: REDIS_URL }, { keyPrefix })
  const storesB = redisStores({ url: relay.url }, { keyPrefix, logger, commandTimeoutMs: 200 })
  t.teardown(() => storesA.close())
  t.teardown(() => storesB.close())
  await Promise.all([storesA.ready(), storesB.ready()])
  const a = await instance(t, storesA)
  const b = await instance(t, storesB)
  const events: string[] = []
  storesB.events.on('unavailable', () => events.push('unavailable'))
  storesB.events.on('recovered', () => events.push('recovered'))
  const onB = await open(t, b.url, token('alice'))
  let closedCode: number | undefined
  onB.closed.then((c) => { closedCode = c.code }, () => {})

  await relay.stop()
  await until(() => !storesB.available, 'B saw the outage')
  // fail-closed: B refuses handshakes while its mirror may be stale
  const refused = await attempt(t, b.url, token('carol')) as Refusal
  t.equal(refused.status, 503)
  t.equal(refused.body.code, 'WSG_UNAVAILABLE')
  await attempt(t, b.url, token('carol'))
  await a.app.wsSessions.revoke({ subject: 'alice' })
  t.equal(closedCode, undefined, 'B cannot know yet')

  await relay.start()
  t.equal((await onB.closed).code, 4403, 'applied after recovery')
  await until(() => storesB.available, 'B recovered')
  t.same(events, ['unavailable', 'recovered'], 'reported once per outage')
  t.equal(warnings.length, 1, 'logged once per outage, not per handshake')
  const after = await attempt(t, b.url, token('alice', { iat: Math.floor(Date.now() / 1000) - 5 })) as Refusal
  t.equal(after.status, 401)
  const fresh = await attempt(t, b.url, token('carol'))
  t.notOk('refused' in fresh, 'handshakes pass again')
})

t.test('fail-open: while Redis is unreachable, B decides from its mirror', async (t) => {
  const relay = await startRelay(t)
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const storesA = redisStores({ url: REDIS_URL }, { keyPrefix })
  const storesB = redisStores({ url: relay.url }, { keyPrefix, onUnavailable: 'fail-open', commandTimeoutMs: 200 })
  t.teardown(() => storesA.close())
  t.teardown(() => storesB.close())
  await Promise.all([storesA.ready(), storesB.ready()])
  const a = await instance(t, storesA)
  const b = await instance(t, storesB, { cap: 1 })
  await a.app.wsSessions.revoke({ subject: 'mallory' })
  await until(() => storesB.revocations.size === 1, 'B mirrored the revocation')
  await relay.stop()
  await until(() => !storesB.available, 'B saw the outage')
  const ok = await attempt(t, b.url, token('carol'))
  t.notOk('refused' in ok, 'a handshake passes on the local decision')
  const capped = await attempt(t, b.url, token('carol')) as Refusal
  t.equal(capped.status, 429, 'the cap counts this instance\'s sessions')
  const revoked = await attempt(t, b.url, token('mallory', { iat: Math.floor(Date.now() / 1000) - 5 })) as Refusal
  t.equal(revoked.status, 401, 'the mirror still refuses what it knows')
})
