// browserRejection: 'close' with all four plugins: every plugin's refusal reaches a browser
// (a client sending Origin) as a close it can read, is counted and audited as any refusal,
// and gives back what the handshake held (session-expiry's place under its cap). Tickets go
// through the same checks as any principal (topic-authz's handshake topic, revocations).
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import { Registry } from 'prom-client'
import { Type } from '@sinclair/typebox'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry, type TelemetryOptions } from '@wsguard/telemetry'
import { topicAuthz } from '@wsguard/topic-authz'
import { captureLogs, claimsFor, generateKey, jwks, mintToken, until, type CapturedLogs } from '@wsguard/testing'

const ISS = 'https://idp.test'
const AUD = 'orders-api'
const ORIGIN = 'https://app.test'
const key = generateKey('ES256')
const token = (sub = 'alice', tenant = 'acme'): string => mintToken(key, { ...claimsFor(ISS, AUD, sub, Date.now(), 600), scope: 'orders:read', tenant })

interface App { app: FastifyInstance, base: string, registry: Registry, logs: CapturedLogs }

async function build (t: Test, anomalies: TelemetryOptions['anomalies'] = {}): Promise<App> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  const registry = new Registry()
  await app.register(websocket)
  await app.register(telemetry, { metrics: { registry }, anomalies })
  await app.register(authHandshake, {
    jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), claims: Type.Object({ tenant: Type.String() }) },
    carriers: ['header', 'subprotocol', 'ticket'],
    allowedOrigins: [ORIGIN],
    tickets: {},
    browserRejection: 'close'
  })
  // Before topic-authz: its check (and its place under the cap) comes first, topic-authz refuses after.
  await app.register(sessionExpiry, { maxSessionsPerPrincipal: 2, heartbeatMs: 0, idleTimeoutMs: 0 })
  await app.register(topicAuthz, {})
  app.get('/orders/:tenant', {
    websocket: true,
    config: {
      topics: [{ pattern: 'orders.{tenant}.>', actions: ['subscribe'], scopes: ['orders:read'], where: { tenant: 'claims.tenant' } }],
      handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}.all' }
    }
  }, (socket, request) => { socket.send(`hello ${request.principal?.id ?? ''} ${request.principal?.method ?? ''}`) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base: `127.0.0.1:${(app.server.address() as AddressInfo).port}`, registry, logs }
}

interface Outcome { status: number, first?: string, close?: { code: number, reason: string }, socket: WebSocket }

/** A browser-like attempt (Origin sent): the first frame of an accepted socket, or how it closed, or the HTTP status. */
function attempt (t: Test, url: string, headers: Record<string, string> = {}, protocols: string[] = []): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { origin: ORIGIN, headers })
    t.teardown(() => socket.terminate())
    let status = 0
    socket.on('upgrade', (res) => { status = res.statusCode as number })
    socket.on('message', (data) => { resolve({ status, first: String(data), socket }) })
    socket.on('close', (code, reason) => { resolve({ status, close: { code, reason: String(reason) }, socket }) })
    socket.on('unexpected-response', (_req, res) => { res.resume(); resolve({ status: res.statusCode as number, socket }) })
    socket.on('error', reject)
  })
}

/** The sum of a metric's samples with these labels; `name` may be a histogram's `_count`. */
async function metric (registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const family = registry.getSingleMetric(name.replace(/_count$/, ''))
  const found = (await family?.get())?.values ?? []
  return found
    // a histogram's samples say which series they are (prom-client's types leave it out)
    .filter((v) => ((v as { metricName?: string }).metricName ?? name) === name && Object.entries(labels).every(([k, value]) => v.labels[k] === value))
    .reduce((sum, v) => sum + v.value, 0)
}

t.test('a refusal after session-expiry held a place under the cap, delivered as a close, gives the place back', async (t) => {
  const { base, registry } = await build(t)
  const bearer = { authorization: `Bearer ${token()}` }
  const first = await attempt(t, `ws://${base}/orders/acme`, bearer)
  t.equal(first.first, 'hello alice jwt', 'one session of alice open (the cap is 2)')
  for (let i = 0; i < 5; i++) {
    const refused = await attempt(t, `ws://${base}/orders/globex`, bearer)
    t.same([refused.status, refused.close], [101, { code: 4403, reason: 'WSG_TOPIC_DENIED' }], `refusal ${i + 1}: topic-authz's, as a close`)
  }
  // Each refused reply finished (telemetry's onResponse hook timed it), so session-expiry's ran too.
  await until(async () => await metric(registry, 'wsguard_handshake_duration_seconds_count', { outcome: 'rejected' }) === 5, 'five refusals timed')
  const second = await attempt(t, `ws://${base}/orders/acme`, bearer)
  t.equal(second.first, 'hello alice jwt', 'the five refusals held no place: a second session opens')
  const third = await attempt(t, `ws://${base}/orders/acme`, bearer)
  t.same(third.close, { code: 4429, reason: 'WSG_RATE_LIMITED retry-after=30' }, 'the cap itself still holds, and its refusal is a close too, with the Retry-After a page cannot read')
  t.equal(await metric(registry, 'wsguard_handshakes_total', { outcome: 'rejected', code: 'WSG_TOPIC_DENIED' }), 5, 'counted with their code')
  t.equal(await metric(registry, 'wsguard_handshakes_total', { outcome: 'rejected', code: 'WSG_RATE_LIMITED' }), 1)
})

t.test('refusals as closes are audited as any refusal; a client without Origin still gets HTTP', async (t) => {
  const { base, logs } = await build(t)
  const refused = await attempt(t, `ws://${base}/orders/acme`, { authorization: 'Bearer not-a-token' })
  t.same(refused.close, { code: 4401, reason: 'WSG_TOKEN_INVALID' })
  await until(() => logs.text().includes('wsguard handshake.rejected'), 'audited')
  const audit = logs.lines.map((l) => JSON.parse(l) as { audit?: Record<string, unknown> }).filter((l) => l.audit?.event === 'handshake.rejected')
  t.match(audit, [{ audit: { code: 'WSG_TOKEN_INVALID', statusCode: 401, origin: ORIGIN, source: '@wsguard/auth-handshake' } }])
  const plain = await new Promise<number>((resolve, reject) => {
    const socket = new WebSocket(`ws://${base}/orders/acme`, { headers: { authorization: 'Bearer not-a-token' } })
    t.teardown(() => socket.terminate())
    socket.on('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode as number) })
    socket.on('open', () => reject(new Error('opened')))
    socket.on('error', () => {}) // terminated in teardown before it ever opened
  })
  t.equal(plain, 401)
})

t.test('telemetry\'s storm gate refuses before any credential is read, and its 429 is a close 4429 too', async (t) => {
  const { base, registry } = await build(t, { reconnectStorm: { perIp: { max: 2, windowMs: 60_000 }, action: 'throttle' } })
  const outcomes = []
  for (let i = 0; i < 3; i++) outcomes.push(await attempt(t, `ws://${base}/orders/acme`, { authorization: `Bearer ${token(`u${i}`)}` }))
  // the gate's Retry-After is when its window lets the next one in: seconds, whatever they are here
  t.match(outcomes.map((o) => o.first ?? o.close), ['hello u0 jwt', 'hello u1 jwt', { code: 4429, reason: /^WSG_RATE_LIMITED retry-after=\d+$/ }])
  t.equal(await metric(registry, 'wsguard_handshakes_total', { outcome: 'rejected', code: 'WSG_RATE_LIMITED' }), 1)
})

t.test('a ticket\'s principal meets every handshake check: the handshake topic, and revocations', async (t) => {
  const { app, base } = await build(t)
  const ask = async (path: string): Promise<string> => {
    const res = await fetch(`http://${base}/ws-ticket`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}`, origin: ORIGIN },
      body: JSON.stringify({ path })
    })
    return (await res.json() as { ticket: string }).ticket
  }
  const other = await ask('/orders/globex')
  t.same((await attempt(t, `ws://${base}/orders/globex?ticket=${other}`)).close, { code: 4403, reason: 'WSG_TOPIC_DENIED' }, 'another tenant\'s topic, with a ticket')
  const own = await ask('/orders/acme')
  t.equal((await attempt(t, `ws://${base}/orders/acme`, {}, ['app.v1', `ticket.${own}`])).first, 'hello alice ticket')
  const later = await ask('/orders/acme')
  await app.wsSessions.revoke({ subject: 'alice', issuer: ISS })
  t.same((await attempt(t, `ws://${base}/orders/acme?ticket=${later}`)).close, { code: 4401, reason: 'WSG_TOKEN_REVOKED' }, 'a ticket of a revoked subject')
})
