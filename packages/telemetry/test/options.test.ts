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
  ['audit', { audit: 'yes' }, /opts\.audit must be a boolean/],
  ['anomalies', { anomalies: { storm: {} } }, /opts\.anomalies\.storm is not an option/],
  ['storm action', { anomalies: { reconnectStorm: { action: 'block' } } }, /action must be 'log' or 'throttle'/],
  ['storm window', { anomalies: { reconnectStorm: { perIp: { max: 0, windowMs: 1 } } } }, /perIp\.max must be an integer ≥ 1/],
  ['storm window keys', { anomalies: { reconnectStorm: { perPrincipal: { max: 1 } } } }, /perPrincipal\.windowMs must be an integer ≥ 1/],
  ['maxTrackedKeys', { anomalies: { reconnectStorm: { maxTrackedKeys: 0 } } }, /maxTrackedKeys must be an integer ≥ 1/],
  ['spike ratio', { anomalies: { failureSpike: { ratio: 1, minPerMinute: 5 } } }, /failureSpike\.ratio must be a number > 1/],
  ['spike min', { anomalies: { failureSpike: { ratio: 2, minPerMinute: 0 } } }, /failureSpike\.minPerMinute must be an integer ≥ 1/],
  ['long session', { anomalies: { longSession: { afterMs: -1 } } }, /longSession\.afterMs must be an integer ≥ 1/],
  ['storm store', { anomalies: { reconnectStorm: { store: {} } } }, /opts\.anomalies\.reconnectStorm\.store must implement WindowCounter \(hit\)/],
  ['spike store', { anomalies: { failureSpike: { ratio: 2, minPerMinute: 1, store: 1 } } }, /opts\.anomalies\.failureSpike\.store must implement WindowCounter/],
  ['storeTimeoutMs', { anomalies: { storeTimeoutMs: 0 } }, /opts\.anomalies\.storeTimeoutMs must be an integer ≥ 1/],
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
