import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { runHandshakeChecks } from '@wsguard/core'
import { probeUpgrade } from '@wsguard/testing'
import { topicAuthz } from '../src/index.js'
import { principal } from './helpers.js'

t.test('the handshake topic is a registered handshake check: a refresh runs it on the new principal', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] })
  // Stands in for auth-handshake: a principal of tenant acme.
  app.addHook('onRequest', async (request) => { request.principal = principal({ claims: { tenant: 'acme' } }) })
  app.get('/orders/:tenant', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } } }, (socket, req) => {
    Promise.all([
      runHandshakeChecks(req, principal({ claims: { tenant: 'acme' } })),
      runHandshakeChecks(req, principal({ claims: { tenant: 'globex' } }))
    ]).then((codes) => { socket.send(JSON.stringify(codes.map(String))) }, () => {})
  })
  app.route({
    method: 'GET',
    url: '/both/:tenant',
    config: { handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } },
    handler: async () => 'the app\'s own HTTP side',
    wsHandler: (socket) => { socket.send('opened') }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  t.same(await probeUpgrade(`${base}/orders/acme`, {}, (fn) => { t.teardown(fn) }), { kind: 'message', data: '["undefined","WSG_TOPIC_DENIED"]' })
  const plain = await app.inject('/both/globex')
  t.same([plain.statusCode, plain.body], [200, 'the app\'s own HTTP side'], 'a request that is not an upgrade is no handshake: its topic is not checked')
  t.same(await probeUpgrade(`${base}/both/globex`, {}, (fn) => { t.teardown(fn) }), { kind: 'refused', status: 403, code: 'WSG_TOPIC_DENIED' }, 'the upgrade is')
})

// Found by session 28's review (Z29): a refresh resolved `{claims.tenant}` again from the new
// token, so a same-subject token of tenant globex was checked against globex's feed and passed,
// and the socket admitted to acme's feed stayed on it with a globex principal.
t.test('a refresh is decided on the topic the socket was admitted to, not on one its new principal resolves', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'tenant.{tenant}.feed', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] })
  app.addHook('onRequest', async (request) => { request.principal = principal({ claims: { tenant: 'acme' } }) })
  app.get('/feed', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'tenant.{claims.tenant}.feed' } } }, (socket, req) => {
    Promise.all([
      runHandshakeChecks(req, principal({ claims: { tenant: 'acme' } })),
      runHandshakeChecks(req, principal({ claims: { tenant: 'globex' } })),
      runHandshakeChecks(req, principal({ claims: {} }))
    ]).then((codes) => { socket.send(JSON.stringify(codes.map(String))) }, () => {})
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  t.same(await probeUpgrade(`${base}/feed`, {}, (fn) => { t.teardown(fn) }), { kind: 'message', data: '["undefined","WSG_TOPIC_DENIED","WSG_TOPIC_DENIED"]' },
    'acme passes; globex, and a principal with no tenant at all, are refused on acme\'s feed')
})

t.test('the checks run on a request whose handshake topic was never admitted: refused', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'orders.>', actions: ['subscribe'] }] })
  const asked: string[] = []
  // Before preValidation, where topic-authz admits the handshake: nothing was admitted yet.
  app.addHook('onRequest', async (request) => { asked.push(String(await runHandshakeChecks(request, principal()))) })
  app.get('/orders', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'orders.all' } } }, (socket, req) => {
    runHandshakeChecks(req, principal()).then((code) => { socket.send(String(code)) }, () => {})
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  t.same(await probeUpgrade(`${base}/orders`, {}, (fn) => { t.teardown(fn) }), { kind: 'message', data: 'undefined' }, 'after the upgrade, the admitted topic passes')
  t.same(asked, ['WSG_TOPIC_DENIED'], 'before it, there is no admitted topic to keep: refused, never resolved afresh')
})
