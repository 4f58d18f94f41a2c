// Hardening findings 1, 2, 3 and 9, end to end with all four plugins on one app.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import { topicAuthz } from '@wsguard/topic-authz'
import { sessionExpiry, MemoryRevocationStore } from '@wsguard/session-expiry'
import { telemetry } from '@wsguard/telemetry'
import { requirePrincipal, type RevocationStore } from '@wsguard/core'
import {
  captureLogs, claimsFor, encapsulations, generateKey, jwks, lateAnswers, mintToken, openSocket, probeUpgrade, until, type CapturedLogs
} from '@wsguard/testing'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const token = (sub: string, tenant: string, extra: Record<string, unknown> = {}): string =>
  mintToken(key, { ...claimsFor(ISS, AUD, sub, Date.now(), 3600), tenant, scope: 'orders:read', ...extra })

interface Stack { app: FastifyInstance, base: string, logs: CapturedLogs }

/** All four plugins; `early` declares routes before them, `late` after. */
async function stack (t: Test, early: (app: FastifyInstance) => Promise<void>, revocations?: RevocationStore): Promise<Stack> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await early(app)
  await app.register(telemetry, {})
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } })
  await app.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], scopes: ['orders:read'], where: { tenant: 'claims.tenant' } }] })
  await app.register(sessionExpiry, { heartbeatMs: 0, ...(revocations !== undefined ? { revocations } : {}) })
  app.get('/orders/:tenant', {
    websocket: true,
    config: { auth: { scopes: ['orders:read'], allowedScopes: ['orders:read'] }, handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } }
  }, (socket, req) => {
    socket.on('message', () => {
      const { id, claims } = requirePrincipal(req)
      socket.send(JSON.stringify({ id, tenant: claims.tenant }))
    })
  })
  app.get('/plain', async () => 'plain')
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, logs, base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

t.test('finding 1: an early websocket route never opens, at any depth, whichever guarding plugin refuses it', async (t) => {
  const places = Object.entries(encapsulations).map(([name, place], i) => [name, `/v1/early${i}`, place] as const)
  const { base, logs } = await stack(t, async (app) => {
    for (const [, path, place] of places) await place(app, path, (c, p) => { c.get(p, { websocket: true }, (socket) => { socket.send('opened') }) })
  })
  const good = token('alice', 'acme')
  for (const [name, path] of places) {
    const r = await probeUpgrade(base + path, { authorization: `Bearer ${good}` }, (fn) => { t.teardown(fn) })
    t.same(r, { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, name)
  }
  t.notOk(logs.text().includes(good), 'no token in the log')
})

t.test('finding 2: a refresh passes every handshake check of the route', async (t) => {
  const { base } = await stack(t, async () => {})
  const c = await openSocket(`${base}/orders/acme`, { token: token('alice', 'acme'), teardown: (fn) => { t.teardown(fn) } })
  c.send({ type: 'auth.refresh', token: token('alice', 'globex', { exp: Math.floor(Date.now() / 1000) + 7200 }) })
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_TOPIC_DENIED' }, 'another tenant: the handshake topic refuses it')
  c.send({ type: 'auth.refresh', token: token('alice', 'acme', { exp: Math.floor(Date.now() / 1000) + 7200, scope: 'orders:read admin' }) })
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_OVERSCOPED_TOKEN' }, 'over-scoped: the route rule refuses it')
  t.same(await c.ask('who'), { id: 'alice', tenant: 'acme' }, 'the socket keeps its principal')
})

t.test('finding 3: a revocation delivered while an async store answers is never lost', async (t) => {
  const late = lateAnswers(new MemoryRevocationStore())
  const { app, base } = await stack(t, async () => {}, late.store)
  const pending = probeUpgrade(`${base}/orders/acme`, { authorization: `Bearer ${token('alice', 'acme')}` }, (fn) => { t.teardown(fn) })
  await until(() => late.asked() === 1, 'the handshake\'s check')
  await app.wsSessions.revoke({ subject: 'alice' })
  late.answer()
  t.same(await pending, { kind: 'refused', status: 401, code: 'WSG_TOKEN_REVOKED' })
})

t.test('finding 9: unknown paths, plain routes and HEAD upgrades are not "routes added before the plugin"', async (t) => {
  const { app, base, logs } = await stack(t, async () => {})
  const teardown = (fn: () => void): void => { t.teardown(fn) }
  t.same(await probeUpgrade(`${base}/nowhere`, {}, teardown), { kind: 'refused', status: 404, code: undefined }, 'an unknown path: 404')
  t.same(await probeUpgrade(`${base}/plain`, {}, teardown), { kind: 'refused', status: 400, code: 'WSG_BAD_REQUEST' }, 'a plain route: 400 before any upgrade, not 503')
  const port = (app.server.address() as AddressInfo).port
  const head = await new Promise<number>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/orders/acme',
      method: 'HEAD',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
    })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode as number) })
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode as number) })
    req.on('error', reject)
    req.end()
  })
  t.equal(head, 404, 'a HEAD upgrade is never upgraded')
  t.notOk(logs.text().includes('was added before'), 'no route-order error or warning')
  const metrics = (await app.inject('/metrics')).body
  t.notOk(metrics.includes('route="undefined"'), 'no series for an undefined route')
})
