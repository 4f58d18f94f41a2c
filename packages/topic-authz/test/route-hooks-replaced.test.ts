// Found by session 32's review (Z33): an app's onRoute hook added after the plugin can take the
// plugin's route state away: by setting (not adding to) preValidation, which removed the
// handshake topic's hook while the route-order guard still read the route's compiled policy
// as "nothing to govern", so acme's alice opened globex's orders; or by rebuilding config
// without its symbol keys, which removed the compiled policy and the refresh check, so a
// refresh skipped the handshake topic. Both now fail closed at the handshake.
import t, { type Test } from 'tap'
import Fastify, { type RouteOptions } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { ChannelName, channel, handshakeChecksOf, type HandshakeRejectedMessage } from '@wsguard/core'
import { captureLogs, probeUpgrade } from '@wsguard/testing'
import { topicAuthz } from '../src/index.js'
import { principal } from './helpers.js'

type Careless = (routeOptions: RouteOptions) => void

async function ordersApp (t: Test, careless: Careless): Promise<{ base: string, logs: ReturnType<typeof captureLogs>, rejected: HandshakeRejectedMessage[] }> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] })
  // Stands in for auth-handshake: a principal of tenant acme.
  app.addHook('onRequest', async (request) => { request.principal = principal({ claims: { tenant: 'acme' } }) })
  app.addHook('onRoute', careless)
  app.get('/orders/:tenant', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } } }, (socket, req) => {
    socket.send(`opened; ${handshakeChecksOf(req).length} refresh checks`)
  })
  const rejected: HandshakeRejectedMessage[] = []
  const listener = (m: unknown): void => { rejected.push(m as HandshakeRejectedMessage) }
  channel(ChannelName.handshakeRejected).subscribe(listener)
  t.teardown(() => { channel(ChannelName.handshakeRejected).unsubscribe(listener) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`, logs, rejected }
}

t.test('a later onRoute hook that sets preValidation: the handshake topic\'s hook is gone, and the guard refuses 503', async (t) => {
  const { base, rejected } = await ordersApp(t, (ro) => { ro.preValidation = function appValidation (_request, _reply, done) { done() } })
  const teardown = (fn: () => void): void => { t.teardown(fn) }
  t.same(await probeUpgrade(`${base}/orders/globex`, {}, teardown), { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, 'another tenant\'s topic')
  t.same(await probeUpgrade(`${base}/orders/acme`, {}, teardown), { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, 'its own: nothing checked it either')
  t.same(rejected.map((m) => [m.source, m.detail]), [['@wsguard/topic-authz', 'route-not-governed'], ['@wsguard/topic-authz', 'route-not-governed']])
})

t.test('a later onRoute hook that rebuilds config without its symbol keys: refused 503 at the handshake, logged once', async (t) => {
  const { base, logs, rejected } = await ordersApp(t, (ro) => { ro.config = Object.fromEntries(Object.entries(ro.config ?? {})) as RouteOptions['config'] })
  const teardown = (fn: () => void): void => { t.teardown(fn) }
  t.same(await probeUpgrade(`${base}/orders/acme`, {}, teardown), { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, 'its own tenant: a refresh could not be checked')
  t.same(await probeUpgrade(`${base}/orders/acme`, {}, teardown), { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, 'again')
  t.same(rejected.map((m) => [m.source, m.code, m.detail]), [['@wsguard/topic-authz', 'WSG_UNAVAILABLE', 'route-not-governed'], ['@wsguard/topic-authz', 'WSG_UNAVAILABLE', 'route-not-governed']])
  t.equal(logs.lines.filter((l) => l.includes('lost its compiled topic policy')).length, 1, 'the route is logged once')
})

t.test('a later onRoute hook that adds to preValidation and spreads config changes nothing', async (t) => {
  const { base, rejected } = await ordersApp(t, (ro) => {
    ro.config = { ...ro.config } as RouteOptions['config']
    ro.preValidation = [...[ro.preValidation ?? []].flat(), function appValidation (_request, _reply, done) { done() }] as RouteOptions['preValidation']
  })
  const teardown = (fn: () => void): void => { t.teardown(fn) }
  t.same(await probeUpgrade(`${base}/orders/acme`, {}, teardown), { kind: 'message', data: 'opened; 1 refresh checks' })
  t.same(await probeUpgrade(`${base}/orders/globex`, {}, teardown), { kind: 'refused', status: 403, code: 'WSG_TOPIC_DENIED' })
  t.same(rejected.map((m) => m.code), ['WSG_TOPIC_DENIED'])
})
