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
