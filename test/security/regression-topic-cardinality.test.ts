// Hardening finding 4: clients choose topic actions and close codes, and telemetry made a
// metric series of each. An action outside topic-authz's `actions` is denied as
// 'unknown-action'; 3,000 client-chosen actions and every close code a client can send leave
// telemetry's registry with a bounded number of series and /metrics small.
import t from 'tap'
import { openSocket } from '@wsguard/testing'
import { ALLOWED_ORIGIN } from './carriers.js'
import { securityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

const ACTIONS = 3_000
// every close code a client may send (RFC 6455 §7.4, as ws checks them): 2,012 of them
const CLOSE_CODES = [1000, 1001, 1002, 1003, ...Array.from({ length: 8 }, (_, i) => 1007 + i), ...Array.from({ length: 2000 }, (_, i) => 3000 + i)]
const MAX_SERIES = 1_000
const MAX_METRICS_BYTES = 64 * 1024
const PARALLEL = 25

t.test('client-chosen actions and close codes do not grow the metrics registry', async (t) => {
  const server = await securityServer(t)
  const token = sign(ec, claims(server.clock.now()))
  const open = async (): Promise<Awaited<ReturnType<typeof openSocket>>> =>
    await openSocket(server.url(server.feed), { token, client: { origin: ALLOWED_ORIGIN }, teardown: (fn) => t.teardown(fn) })

  const client = await open()
  for (let i = 0; i < ACTIONS; i++) client.send(`authorize act-${i} orders.acme.eu`)
  const decisions: Array<{ allow: boolean, reason?: string }> = []
  for (let i = 0; i < ACTIONS; i++) decisions.push(await client.next() as { allow: boolean, reason?: string })
  const wrong = decisions.filter((d) => d.allow || d.reason !== 'unknown-action')
  t.same(wrong.slice(0, 2), [], `every unknown action is denied as unknown-action (${wrong.length} of ${ACTIONS} are not)`)
  t.same(await client.ask('authorize subscribe orders.acme.eu'), { allow: true, rule: 'orders.{tenant}.>', captures: { tenant: 'acme' } }, 'a known action still decides')
  client.ws.close(1000)
  await client.closed

  for (let i = 0; i < CLOSE_CODES.length; i += PARALLEL) {
    await Promise.all(CLOSE_CODES.slice(i, i + PARALLEL).map(async (code) => {
      const c = await open()
      c.ws.close(code)
      await c.closed
    }))
  }

  const registry = server.app.wsguardTelemetry.registry
  t.ok(registry !== undefined, 'telemetry has a registry')
  const series = (await registry?.getMetricsAsJSON() ?? []).reduce((n, m) => n + m.values.length, 0)
  const text = (await server.app.inject('/metrics')).body
  t.comment(`${series} series, /metrics ${text.length} bytes, after ${ACTIONS} actions and ${CLOSE_CODES.length} close codes`)
  t.ok(series < MAX_SERIES, `a bounded number of series (${series} < ${MAX_SERIES})`)
  t.ok(text.length < MAX_METRICS_BYTES, `/metrics stays small (${text.length} < ${MAX_METRICS_BYTES} bytes)`)
})
