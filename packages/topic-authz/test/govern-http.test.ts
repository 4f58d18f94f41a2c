import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { ChannelName, channel, type Principal } from '@wsguard/core'
import { probeUpgrade } from '@wsguard/testing'
import { topicAuthz } from '../src/index.js'
import { principal } from './helpers.js'

// A { handler, wsHandler } route with a handshake topic: only its upgrade is checked, unless
// it asks for its HTTP requests to be governed too (config.governHttp).
const handshakeTopic = { action: 'subscribe', topic: 'orders.{params.tenant}' }

async function app (t: Test) {
  const rejected: unknown[] = []
  const onRejected = (m: unknown): void => { rejected.push(m) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(websocket)
  fastify.decorateRequest('principal', null as unknown as Principal)
  // The app's authentication: the tenant claim from a header (auth-handshake's place).
  fastify.addHook('onRequest', async (request) => {
    const tenant = request.headers['x-tenant']
    if (typeof tenant === 'string') request.principal = principal({ claims: { tenant } })
  })
  await fastify.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] })
  for (const [url, governHttp] of [['/plain/:tenant', false], ['/governed/:tenant', true]] as const) {
    fastify.route({
      method: 'GET',
      url,
      config: { handshakeTopic, governHttp },
      handler: async () => 'http',
      wsHandler: (socket) => { socket.send('opened') }
    })
  }
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  return { fastify, rejected, base: `ws://127.0.0.1:${(fastify.server.address() as AddressInfo).port}` }
}

t.test('the HTTP half of a dual route with a handshake topic is untouched by default', async (t) => {
  const { fastify, rejected } = await app(t)
  const res = await fastify.inject({ url: '/plain/acme', headers: { 'x-tenant': 'globex' } })
  t.same([res.statusCode, res.body], [200, 'http'], 'another tenant, or none: the app\'s HTTP handler answers')
  t.equal((await fastify.inject('/plain/acme')).body, 'http')
  t.equal(rejected.length, 0)
})

t.test('governHttp: the handshake topic is checked on the HTTP half too (403), not published as a handshake', async (t) => {
  const { fastify, rejected } = await app(t)
  const denied = await fastify.inject({ url: '/governed/acme', headers: { 'x-tenant': 'globex' } })
  t.same([denied.statusCode, denied.json().code], [403, 'WSG_TOPIC_DENIED'])
  t.equal((await fastify.inject({ method: 'HEAD', url: '/governed/acme' })).statusCode, 403, 'the HEAD twin too')
  t.equal((await fastify.inject({ url: '/governed/acme', headers: { 'x-tenant': 'acme' } })).body, 'http', 'allowed: the handler answers')
  t.equal(rejected.length, 0)
})

t.test('the upgrade of a dual route is checked either way', async (t) => {
  const { base } = await app(t)
  const teardown = (fn: () => void): void => { t.teardown(fn) }
  for (const path of ['/plain', '/governed']) {
    t.same(await probeUpgrade(`${base}${path}/acme`, { 'x-tenant': 'globex' }, teardown), { kind: 'refused', status: 403, code: 'WSG_TOPIC_DENIED' }, path)
    t.same(await probeUpgrade(`${base}${path}/acme`, { 'x-tenant': 'acme' }, teardown), { kind: 'message', data: 'opened' }, path)
  }
})

t.test('governHttp on a route with a handshake topic added before the plugin: its HTTP requests are refused 503', async (t) => {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(websocket)
  fastify.route({ method: 'GET', url: '/early/:tenant', config: { handshakeTopic, governHttp: true }, handler: async () => 'http', wsHandler: () => {} })
  fastify.route({ method: 'GET', url: '/early-plain/:tenant', config: { handshakeTopic }, handler: async () => 'http', wsHandler: () => {} })
  await fastify.register(topicAuthz, { policies: [] })
  t.same((await fastify.inject('/early/acme')).json().code, 'WSG_UNAVAILABLE')
  t.equal((await fastify.inject('/early-plain/acme')).body, 'http', 'a route that did not ask keeps its HTTP half')
})

t.test('governHttp must be a boolean', async (t) => {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(websocket)
  await fastify.register(topicAuthz, { policies: [] })
  t.throws(
    () => fastify.route({ method: 'GET', url: '/bad', config: { governHttp: 1 as never }, handler: async () => 'x', wsHandler: () => {} }),
    { code: 'WSG_INVALID_OPTION', message: /route GET \/bad: config\.governHttp must be a boolean/ },
    'read on every websocket route, with or without topic config'
  )
})
