import t, { type Test } from 'tap'
import { connectSocket, until, type Refusal } from '@wsguard/testing'
import { redisStores, type RedisStores, type RedisStoresOptions } from '../src/index.js'
import { instance, token, type Instance } from './app.js'
import { REDIS_URL, startRelay, testClient, testPrefix } from './helpers.js'

const HOUR = 3_600_000
const attempt = (t: Test, url: string, tok: string) => connectSocket(url, { token: tok, teardown: (fn) => t.teardown(fn) })

async function stores (t: Test, keyPrefix: string, url: string, opts: RedisStoresOptions = {}): Promise<RedisStores> {
  const s = redisStores({ url }, { keyPrefix, ...opts })
  t.teardown(() => s.close())
  await s.ready()
  return s
}

/** An instance whose per-IP storm gate (max per hour, throttling) counts in its stores' counters. */
const gated = (t: Test, s: RedisStores, max: number): Promise<Instance> =>
  instance(t, s, { telemetry: { metrics: { stores: { redis: s } }, anomalies: { reconnectStorm: { perIp: { max, windowMs: HOUR }, action: 'throttle', store: s.counters } } } })

async function outcomes (t: Test, url: string, n: number): Promise<Array<number | 'open'>> {
  const out: Array<number | 'open'> = []
  for (let i = 0; i < n; i++) {
    const r = await attempt(t, url, token('alice'))
    if ('refused' in r) out.push(r.status)
    else {
      out.push('open')
      r.ws.close()
    }
  }
  return out
}

const metric = async (i: Instance, labels: string, name = 'wsguard_counter_store_unavailable_total'): Promise<number> => {
  const line = (await i.app.inject('/metrics')).body.split('\n').find((l) => l.startsWith(`${name}{${labels}}`))
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

t.test('a storm spread over A and B is counted once: limit 10 per IP, 6 on A and 5 on B, the 11th refused 429', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix)
  const a = await gated(t, await stores(t, keyPrefix, REDIS_URL), 10)
  const b = await gated(t, await stores(t, keyPrefix, REDIS_URL), 10)
  t.same(await outcomes(t, a.url, 6), Array(6).fill('open'))
  t.same(await outcomes(t, b.url, 4), Array(4).fill('open'), 'B alone has seen 4')
  const eleventh = await attempt(t, b.url, token('alice')) as Refusal
  t.equal(eleventh.status, 429)
  t.equal(eleventh.body.code, 'WSG_RATE_LIMITED')
  t.ok(Number(eleventh.headers['retry-after']) >= 1 && Number(eleventh.headers['retry-after']) <= 3600, `Retry-After ${eleventh.headers['retry-after']}`)
  t.equal((await attempt(t, a.url, token('bob')) as Refusal).status, 429, 'and on A: the address, whoever it claims to be')
  t.match(b.audit().filter((e) => e.event === 'anomaly'), [{ kind: 'reconnect-storm', scope: 'ip', key: '127.0.0.1', count: 11, limit: 10 }])
  const key = `{${keyPrefix}}n:${HOUR}:=ip 127.0.0.1`
  t.same(await client.hvals(key), ['12'], 'one count per handshake on either instance')
  const ttl = await client.pttl(key)
  t.ok(ttl > 0 && ttl <= 2 * HOUR, `the counter expires (${ttl} ms)`)
})

t.test('fail-closed: with Redis cut off, B\'s storm gate refuses 503 with Retry-After, logged once, counted; it recovers by itself', async (t) => {
  const relay = await startRelay(t)
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const warned: object[] = []
  const logger = { warn: (o: object, msg: string) => { if (msg.includes('Redis unavailable')) warned.push(o) }, info: () => {} }
  const storesB = await stores(t, keyPrefix, relay.url, { commandTimeoutMs: 200, logger })
  const b = await gated(t, storesB, 10)
  t.same(await outcomes(t, b.url, 1), ['open'])
  t.equal(await metric(b, 'store="redis"', 'wsguard_store_available'), 1, 'the store gauge: up')
  await relay.stop()
  await until(() => !storesB.available, 'the outage is seen')
  t.equal(await metric(b, 'store="redis"', 'wsguard_store_available'), 0, 'the store gauge: down (what the alert WsguardStoreUnavailable reads)')
  for (let i = 0; i < 3; i++) {
    const r = await attempt(t, b.url, token('alice')) as Refusal
    t.equal(r.status, 503)
    t.equal(r.body.code, 'WSG_UNAVAILABLE')
    t.equal(r.headers['retry-after'], '5')
  }
  t.match(b.audit().filter((e) => e.event === 'handshake.rejected'), [
    { source: '@wsguard/telemetry', code: 'WSG_UNAVAILABLE', detail: 'counter-store' },
    { source: '@wsguard/telemetry', detail: 'counter-store' },
    { source: '@wsguard/telemetry', detail: 'counter-store' }
  ], 'refused by the gate, before auth-handshake or session-expiry saw it')
  t.equal(await metric(b, 'use="ip",decision="refused"'), 3)
  t.equal(warned.length, 1, 'the stores logged the outage once')
  t.equal(b.logs.lines.filter((l) => l.includes('the counter store cannot answer')).length, 1, 'telemetry too')
  await relay.start()
  await until(() => storesB.available, 'Redis answers again', { timeoutMs: 10_000 })
  t.equal(await metric(b, 'store="redis"', 'wsguard_store_available'), 1, 'the store gauge: up again')
  t.same(await outcomes(t, b.url, 1), ['open'], 'handshakes pass again: 5 attempts counted here, 2 in Redis')
  t.equal(b.logs.lines.filter((l) => l.includes('the counter store answers again')).length, 1)
})

t.test('fail-open: with Redis cut off, B decides from its own window', async (t) => {
  const relay = await startRelay(t)
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const a = await gated(t, await stores(t, keyPrefix, REDIS_URL), 3)
  const b = await gated(t, await stores(t, keyPrefix, relay.url, { commandTimeoutMs: 200, onUnavailable: 'fail-open' }), 3)
  t.same(await outcomes(t, a.url, 3), Array(3).fill('open'), 'A used the whole shared allowance')
  await relay.stop()
  t.same(await outcomes(t, b.url, 4), ['open', 'open', 'open', 429], 'B counts alone: 3 more, then its own window refuses')
  t.equal(await metric(b, 'use="ip",decision="local"'), 4)
})
