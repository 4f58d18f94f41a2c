import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { Registry } from 'prom-client'
import { telemetry, type TelemetryOptions } from '../src/index.js'
import { parseMetrics, sample } from './prom.js'

const bad: Array<[string, unknown, RegExp]> = [
  ['unknown', { metric: {} }, /opts\.metric is not an option/],
  ['enabled', { enabled: 1 }, /opts\.enabled must be a boolean/],
  ['metrics', { metrics: true }, /opts\.metrics must be an object/],
  ['metrics key', { metrics: { route: '/m' } }, /opts\.metrics\.route is not an option/],
  ['metrics.path', { metrics: { path: 'metrics' } }, /opts\.metrics\.path must be a path starting with '\/', or false/],
  ['metrics.registry', { metrics: { registry: {} } }, /opts\.metrics\.registry must be a prom-client Registry/],
  ['metrics.registry null', { metrics: { registry: null } }, /opts\.metrics\.registry must be a prom-client Registry/],
  ['metrics.prefix', { metrics: { prefix: '9x' } }, /opts\.metrics\.prefix must be a valid Prometheus name prefix/],
  ['metrics.stores', { metrics: { stores: [] } }, /opts\.metrics\.stores must be an object of stores by name/],
  ['metrics.stores null', { metrics: { stores: null } }, /opts\.metrics\.stores must be an object of stores by name/],
  ['metrics.stores name', { metrics: { stores: { 'a b': { available: true } } } }, /opts\.metrics\.stores: "a b" is not a name of 1 to 64/],
  ['metrics.stores probe', { metrics: { stores: { redis: { available: 'yes' } } } }, /opts\.metrics\.stores\.redis must have a boolean `available`/],
  ['metrics.stores null probe', { metrics: { stores: { redis: null } } }, /opts\.metrics\.stores\.redis must have a boolean `available`/],
  ['metrics.stores many', { metrics: { stores: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`s${i}`, { available: true }])) } }, /opts\.metrics\.stores names at most 16 stores/],
  ['audit', { audit: 'yes' }, /opts\.audit must be a boolean/],
  ['anomalies', { anomalies: { storm: {} } }, /opts\.anomalies\.storm is not an option/],
  ['storm action', { anomalies: { reconnectStorm: { action: 'block' } } }, /action must be 'log' or 'throttle'/],
  ['storm window', { anomalies: { reconnectStorm: { perIp: { max: 0, windowMs: 1 } } } }, /perIp\.max must be an integer ≥ 1/],
  ['storm window keys', { anomalies: { reconnectStorm: { perPrincipal: { max: 1 } } } }, /perPrincipal\.windowMs must be an integer ≥ 1/],
  ['maxTrackedKeys', { anomalies: { reconnectStorm: { maxTrackedKeys: 0 } } }, /maxTrackedKeys must be an integer ≥ 1/],
  ['ipv6Subnet low', { anomalies: { reconnectStorm: { ipv6Subnet: 16 } } }, /ipv6Subnet must be an integer from 32 to 128/],
  ['ipv6Subnet high', { anomalies: { reconnectStorm: { ipv6Subnet: 129 } } }, /ipv6Subnet must be an integer from 32 to 128/],
  ['ipv6Subnet fraction', { anomalies: { reconnectStorm: { ipv6Subnet: 56.5 } } }, /ipv6Subnet must be an integer from 32 to 128/],
  ['ipv6Subnet text', { anomalies: { reconnectStorm: { ipv6Subnet: '56' } } }, /ipv6Subnet must be an integer from 32 to 128/],
  ['spike ratio', { anomalies: { failureSpike: { ratio: 1, minPerMinute: 5 } } }, /failureSpike\.ratio must be a number > 1/],
  ['spike min', { anomalies: { failureSpike: { ratio: 2, minPerMinute: 0 } } }, /failureSpike\.minPerMinute must be an integer ≥ 1/],
  ['long session', { anomalies: { longSession: { afterMs: -1 } } }, /longSession\.afterMs must be an integer ≥ 1/],
  ['storm store', { anomalies: { reconnectStorm: { store: {} } } }, /opts\.anomalies\.reconnectStorm\.store must implement WindowCounter \(hit\)/],
  ['spike store', { anomalies: { failureSpike: { ratio: 2, minPerMinute: 1, store: 1 } } }, /opts\.anomalies\.failureSpike\.store must implement WindowCounter/],
  ['storeTimeoutMs', { anomalies: { storeTimeoutMs: 0 } }, /opts\.anomalies\.storeTimeoutMs must be an integer ≥ 1/],
  ['storeTimeoutMs past what a timer waits', { anomalies: { storeTimeoutMs: 2 ** 31 } }, /opts\.anomalies\.storeTimeoutMs must be at most 2147483647 ms \(about 24\.8 days, the longest a Node timer waits\)/],
  ['clock', { clock: { now: () => 0 } }, /opts\.clock must implement TimerClock/]
]

t.test('bad options fail registration with a message naming the option', async (t) => {
  for (const [name, opts, message] of bad) {
    const app = Fastify()
    await app.register(websocket)
    await t.rejects(async () => { await app.register(telemetry, opts as TelemetryOptions) }, { code: 'WSG_INVALID_OPTION', message }, name)
    await app.close()
  }
})

t.test('options that are not an object', async (t) => {
  const { validateOptions } = await import('../src/options.js')
  t.throws(() => validateOptions(null), { code: 'WSG_INVALID_OPTION', message: /opts must be an object/ })
  t.throws(() => validateOptions([]), { code: 'WSG_INVALID_OPTION', message: /opts must be an object/ })
})

t.test('enabled: false registers nothing', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(telemetry, { enabled: false })
  t.equal((await app.inject('/metrics')).statusCode, 404)
  t.same(app.wsguardTelemetry, { enabled: false, registry: undefined })
})

t.test('a shared registry, a prefix, no route; metrics: false', async (t) => {
  const registry = new Registry()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(telemetry, { metrics: { registry, prefix: 'myapp_ws_', path: false }, audit: false })
  t.equal(app.wsguardTelemetry.registry, registry)
  t.equal((await app.inject('/metrics')).statusCode, 404)
  t.equal(sample(parseMetrics(await registry.metrics()), 'myapp_ws_anomalies_total'), 0)
  t.ok((await registry.getMetricsAsJSON()).some((m) => m.name === 'myapp_ws_handshakes_total'))

  const defaults = Fastify()
  t.teardown(() => defaults.close())
  await defaults.register(websocket)
  await defaults.register(telemetry, { metrics: { registry: new Registry() } })
  t.match((await defaults.inject('/metrics')).body, /wsguard_anomalies_total/, 'path and prefix default when only the registry is given')
  const none = Fastify()
  t.teardown(() => none.close())
  await none.register(websocket)
  await none.register(telemetry, { metrics: false })
  t.same(none.wsguardTelemetry, { enabled: true, registry: undefined })
  t.equal((await none.inject('/metrics')).statusCode, 404)
})

t.test('metrics.stores: each named store is 1 while it can answer and 0 while it cannot, read at each scrape', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  let redisUp = false
  const redis = { get available () { return redisUp } }
  const broken = { available: true }
  await app.register(telemetry, { metrics: { stores: { redis, broken } }, audit: false })
  // A probe whose getter throws after registration counts as unavailable, and the scrape still answers.
  Object.defineProperty(broken, 'available', { get () { throw new Error('probe failed') } })
  const scrape = async (): Promise<Map<string, number>> => parseMetrics((await app.inject('/metrics')).body)
  let m = await scrape()
  t.equal(m.get('wsguard_store_available{store="redis"}'), 0, 'down before it connects')
  t.equal(m.get('wsguard_store_available{store="broken"}'), 0, 'a probe that throws is down')
  redisUp = true
  m = await scrape()
  t.equal(m.get('wsguard_store_available{store="redis"}'), 1, 'up at the next scrape')

  const none = Fastify()
  t.teardown(() => none.close())
  await none.register(websocket)
  await none.register(telemetry, { audit: false })
  const plain = parseMetrics((await none.inject('/metrics')).body)
  t.notOk([...plain.keys()].some((k) => k.startsWith('wsguard_store_available')), 'no store named, no series')
})
