import t from 'tap'
import Fastify from 'fastify'
import { until } from '@wsguard/testing'
import { dashboard, type DashboardSnapshot } from '../src/dashboard/index.js'
import { AFTER_STORM, BEFORE_STORM, STORM_COUNT, STORM_MAX, dashboardApp, numbers, scenario } from './dashboard-harness.js'

const close = (a: number | null, b: number): boolean => a !== null && Math.abs(a - b) < 1e-9

t.test('the JSON endpoint shows exactly what the scenario did, and the storm button raises the anomaly', async (t) => {
  const h = await dashboardApp(t)
  const empty = await h.data()
  t.match(empty, {
    handshakes: { accepted: 0, rejected: 0, byCode: [{ outcome: 'accepted', code: 'none', count: 0 }] },
    sessions: { active: 0, byRoute: [{ route: '/feed', active: 0 }] },
    sessionDurations: { count: 0, sumSeconds: 0, p50: null, p95: null },
    refreshes: { success: 0, failure: 0 },
    revocations: 0,
    anomalies: { 'reconnect-storm': 0, 'failure-spike': 0, 'long-session': 0 },
    stores: [{ store: 'sessions', available: true }],
    storm: true
  }, 'before anything: every series at 0, the route known from the first read')
  t.equal(empty.handshakes.byCode.length, 1)

  await scenario(t, h)
  const before = await h.data()
  t.same(before.handshakes.byCode, BEFORE_STORM.byCode)
  t.equal(before.handshakes.accepted, BEFORE_STORM.accepted)
  t.equal(before.handshakes.rejected, BEFORE_STORM.rejected)
  t.equal(before.sessions.active, BEFORE_STORM.active)
  t.same(before.sessions.byRoute, [{ route: '/feed', active: BEFORE_STORM.active }])
  t.equal(before.sessionDurations.count, BEFORE_STORM.ended)
  t.equal(before.sessionDurations.sumSeconds, 90, "carol's 90 s on the fake clock")
  t.ok(close(before.sessionDurations.p50, BEFORE_STORM.p50), `p50 ${String(before.sessionDurations.p50)}`)
  t.ok(close(before.sessionDurations.p95, BEFORE_STORM.p95), `p95 ${String(before.sessionDurations.p95)}`)
  t.same(before.sessionDurations.buckets.map((b) => b.le), [1, 10, 60, 300, 900, 1800, 3600, 14400, 28800, 86400, '+Inf'])
  t.same(before.sessionDurations.buckets.map((b) => b.count), [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
  t.equal(before.anomalies['reconnect-storm'], 0)

  h.store.available = false
  t.same((await h.data()).stores, [{ store: 'sessions', available: false }], 'store availability as telemetry reads it at each read')
  h.store.available = true

  const response = await fetch(`${h.origin}/dashboard/storm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(response.status, 200)
  t.match(await response.json(), { status: 'finished', durationMs: Number })
  t.same(h.storms, [{ attempted: STORM_COUNT, opened: STORM_MAX, refused: { 429: STORM_COUNT - STORM_MAX }, failed: 0 }], 'one storm: five sockets through, the rest throttled')

  await until(async () => (await h.data()).sessionDurations.count === AFTER_STORM.ended, 'the storm\'s sessions counted as ended', { timeoutMs: 10_000 })
  const after = await h.data()
  t.same(after.handshakes.byCode, AFTER_STORM.byCode)
  t.equal(after.handshakes.accepted, AFTER_STORM.accepted)
  t.equal(after.handshakes.rejected, AFTER_STORM.rejected)
  t.equal(after.sessions.active, AFTER_STORM.active)
  t.ok(close(after.sessionDurations.p50, AFTER_STORM.p50), `p50 ${String(after.sessionDurations.p50)}`)
  t.ok(close(after.sessionDurations.p95, AFTER_STORM.p95), `p95 ${String(after.sessionDurations.p95)}`)
  t.same(after.anomalies, { 'reconnect-storm': AFTER_STORM.stormAnomalies, 'failure-spike': 0, 'long-session': 0 })

  const text = JSON.stringify(after)
  for (const word of ['alice', 'bob', 'carol', 'mallory', '127.0.0.1']) t.notOk(text.includes(word), `no ${word} in the snapshot`)
  t.notOk(h.logs.text().includes(h.token('mallory').split('.')[2] as string), 'no token signature in a log line')
})

t.test('the page and its assets', async (t) => {
  const h = await dashboardApp(t)
  const page = await fetch(`${h.origin}/dashboard`)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /^text\/html; charset=utf-8/)
  t.match(page.headers.get('content-security-policy'), /script-src 'self'; style-src 'self'; connect-src 'self'/)
  t.equal(page.headers.get('cache-control'), 'no-store')
  const html = await page.text()
  t.match(html, 'data-data-url="/dashboard/data" data-storm-url="/dashboard/storm"')
  t.match(html, '<script type="module" src="/dashboard/dashboard.js"></script>')
  t.notMatch(html, '{{path}}', 'every placeholder filled')
  const js = await fetch(`${h.origin}/dashboard/dashboard.js`)
  t.match(js.headers.get('content-type'), /^text\/javascript/)
  t.match(await js.text(), 'setTimeout(poll, POLL_MS)')
  const css = await fetch(`${h.origin}/dashboard/dashboard.css`)
  t.match(css.headers.get('content-type'), /^text\/css/)
  t.equal((await fetch(`${h.origin}/dashboard/data`, { method: 'HEAD' })).status, 200, 'HEAD as GET')
})

t.test('a custom path and metric prefix; no storm, no storm route', async (t) => {
  const h = await dashboardApp(t, { path: '/ops/telemetry', metricPrefix: 'demo_', storm: null })
  await scenario(t, h)
  const s = await h.data()
  t.same(s.handshakes.byCode, BEFORE_STORM.byCode, 'read under the other prefix')
  t.equal(s.storm, false)
  t.match(await (await fetch(`${h.origin}/ops/telemetry`)).text(), 'data-data-url="/ops/telemetry/data"')
  t.equal((await fetch(`${h.origin}/ops/telemetry/storm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 404)
  t.equal((await fetch(`${h.origin}/dashboard`)).status, 404, 'nothing at the default path')
})

t.test('bad input gets a clear 4xx and changes nothing', async (t) => {
  let calls = 0
  const h = await dashboardApp(t, { storm: () => { calls++ } })
  await scenario(t, h)
  const before = numbers(await h.data())
  const post = async (init: RequestInit): Promise<{ status: number, body: Record<string, unknown>, allow: string | null }> => {
    const r = await fetch(`${h.origin}/dashboard/storm`, { method: 'POST', ...init })
    return { status: r.status, body: await r.json() as Record<string, unknown>, allow: r.headers.get('allow') }
  }
  const cases: Array<[string, RequestInit, number, RegExp]> = [
    ['no body', {}, 400, /body/],
    ['a JSON body that is not an object', { headers: { 'content-type': 'application/json' }, body: '[]' }, 400, /body must be object/],
    ['parameters', { headers: { 'content-type': 'application/json' }, body: '{"count":100000}' }, 400, /must NOT have more than 0 properties/],
    ['broken JSON', { headers: { 'content-type': 'application/json' }, body: '{' }, 400, /JSON/],
    ['text/plain, as a cross-site form may send', { headers: { 'content-type': 'text/plain' }, body: '{}' }, 400, /body must be object/],
    ['a form', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' }, 415, /Unsupported Media Type/],
    ['a body past the limit', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(100) }) }, 413, /body/i]
  ]
  for (const [what, init, status, message] of cases) {
    const r = await post(init)
    t.equal(r.status, status, what)
    t.match(String(r.body.message), message, `${what}: ${String(r.body.message)}`)
  }
  const methods: Array<[string, string, string]> = [
    ['/dashboard/storm', 'GET', 'POST'], ['/dashboard/storm', 'PUT', 'POST'], ['/dashboard/storm', 'DELETE', 'POST'],
    ['/dashboard/data', 'POST', 'GET, HEAD'], ['/dashboard/data', 'PATCH', 'GET, HEAD'], ['/dashboard', 'POST', 'GET, HEAD'],
    ['/dashboard/dashboard.js', 'DELETE', 'GET, HEAD'], ['/dashboard/data', 'OPTIONS', 'GET, HEAD']
  ]
  for (const [url, method, allow] of methods) {
    const r = await fetch(`${h.origin}${url}`, { method })
    t.equal(r.status, 405, `${method} ${url}`)
    t.equal(r.headers.get('allow'), allow)
    t.match(await r.json(), { statusCode: 405, message: `${method} is not allowed here; use ${allow.replace(', ', ' or ')}` })
  }
  t.equal(calls, 0, 'no storm started')
  t.same(numbers(await h.data()), before, 'the numbers did not move')
})

t.test('one storm at a time; a storm that fails is a 500 whose log line has no message', async (t) => {
  let release = (): void => {}
  let calls = 0
  const h = await dashboardApp(t, {
    storm: async () => {
      calls++
      if (calls === 1) await new Promise<void>((resolve) => { release = resolve })
      else throw new Error('ws://x/?ticket=SECRET-TICKET failed')
    }
  })
  const start = (): Promise<Response> => fetch(`${h.origin}/dashboard/storm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  const first = start()
  await until(() => calls === 1, 'the first storm started')
  const second = await start()
  t.equal(second.status, 409)
  t.match(await second.json(), { message: 'a reconnect storm is already running' })
  t.equal(calls, 1, 'the second was not started')
  release()
  t.equal((await first).status, 200)
  const failed = await start()
  t.equal(failed.status, 500)
  t.same(await failed.json(), { statusCode: 500, error: 'Internal Server Error', message: 'the reconnect storm failed' })
  t.match(h.logs.text(), /"error":"Error".*dashboard: the reconnect storm failed/)
  t.notOk(h.logs.text().includes('SECRET-TICKET'), 'the error message is not logged')
  t.equal((await start()).status, 500, 'not stuck as running after a failure')
  t.equal(calls, 3)
})

t.test('a storm that throws something other than an Error', async (t) => {
  const h = await dashboardApp(t, { storm: () => { throw 'nope' } }) // eslint-disable-line no-throw-literal
  const r = await fetch(`${h.origin}/dashboard/storm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(r.status, 500)
  t.match(h.logs.text(), /"error":"string"/)
})

t.test('options are checked at registration', async (t) => {
  const registry = { getMetricsAsJSON: async () => [] }
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no registry', {}, /registry must be telemetry's registry/],
    ['a registry without getMetricsAsJSON', { registry: {} }, /registry must be/],
    ['a path without a slash', { registry, path: 'dashboard' }, /path must be like \/dashboard/],
    ['a trailing slash', { registry, path: '/dashboard/' }, /path must be/],
    ['a path with markup', { registry, path: '/"><script>' }, /path must be/],
    ['a path that is not a string', { registry, path: 7 }, /path must be/],
    ['a metric prefix with a space', { registry, metricPrefix: 'a b' }, /metricPrefix must be/],
    ['a metric prefix that is not a string', { registry, metricPrefix: 1 }, /metricPrefix must be/],
    ['a storm that is not a function', { registry, storm: 'go' }, /storm must be a function/]
  ]
  for (const [what, options, message] of bad) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(dashboard, options as never) }, message, what)
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(dashboard, { registry })
  const s = (await app.inject('/dashboard/data')).json<DashboardSnapshot>()
  t.match(s, { handshakes: { accepted: 0, rejected: 0, byCode: [] }, sessions: { active: 0, byRoute: [] }, stores: [], storm: false }, 'a registry with no telemetry metric: all zeros')
})
