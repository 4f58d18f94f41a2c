import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { principalOf, sessionOf, type Principal } from '@wsguard/core'
import { harness, open, T0 } from './helpers.js'
import { sessionExpiry } from '../src/index.js'

// A { handler, wsHandler } route: the plain HTTP half is the app's unless the route asks
// (config.governHttp); then a revoked or expired credential is refused there too.
const dual = { handler: async () => 'http', wsHandler: (socket: { send: (s: string) => void }) => { socket.send('opened') } }

t.test('the HTTP half of a dual route: untouched by default, checked for revocation and expiry with governHttp, never counted under the cap', async (t) => {
  const { app, clock, base, token } = await harness(t, {
    session: { maxSessionsPerPrincipal: 1 },
    routes: (app) => {
      app.route({ method: 'GET', url: '/plain', config: { auth: { scopes: ['feed:read'] } }, ...dual })
      app.route({ method: 'GET', url: '/governed', config: { governHttp: true, auth: { scopes: ['feed:read'] } }, ...dual })
    }
  })
  const tok = token('alice', 600)
  const auth = { authorization: `Bearer ${tok}` }
  const socket = await open(t, `${base}/feed`, tok)
  t.equal(await socket.ask('x'), 'echo:x')
  t.equal((await app.inject({ url: '/governed', headers: auth })).body, 'http', 'a plain request holds no place under maxSessionsPerPrincipal (1, taken)')

  await app.wsSessions.revoke({ subject: 'alice' })
  t.equal((await app.inject({ url: '/plain', headers: auth })).body, 'http', 'without governHttp: the app\'s handler answers')
  const revoked = await app.inject({ url: '/governed', headers: auth })
  t.same([revoked.statusCode, revoked.json().code], [401, 'WSG_TOKEN_REVOKED'])
  t.equal((await app.inject({ method: 'HEAD', url: '/governed', headers: auth })).statusCode, 401, 'the HEAD twin too')

  clock.advance(1_000)
  const fresh = token('alice', 600)
  clock.set(T0 + 1_000 + 599_500)
  const expiring = await app.inject({ url: '/governed', headers: { authorization: `Bearer ${fresh}` } })
  t.same([expiring.statusCode, expiring.json().code], [401, 'WSG_TOKEN_EXPIRED'], '500 ms left: under minRemainingMs')
})

t.test('principalOf(req.raw) and sessionOf(req.raw) in a handler that only has the raw request', async (t) => {
  const { base, token } = await harness(t, {
    routes: (app) => {
      app.get('/raw', { websocket: true }, (socket, req) => {
        const session = sessionOf(req.raw)
        socket.send(JSON.stringify({ principal: principalOf(req.raw)?.id, same: session === req.wsSession, session: session?.id === req.wsSession.id }))
      })
    }
  })
  const c = await open(t, `${base}/raw`, token('alice', 600))
  t.same(await c.next(), { principal: 'alice', same: true, session: true })
})

t.test('governHttp on a route added before the plugin: its HTTP requests are refused 503', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  app.decorateRequest('principal', null as unknown as Principal)
  app.route({ method: 'GET', url: '/early', config: { governHttp: true }, ...dual })
  app.route({ method: 'GET', url: '/early-plain', ...dual })
  await app.register(sessionExpiry, { refresh: false })
  t.same((await app.inject('/early')).json().code, 'WSG_UNAVAILABLE')
  t.equal((await app.inject('/early-plain')).body, 'http')
})

t.test('governHttp must be a boolean', async (t) => {
  await t.rejects(harness(t, {
    routes: (app) => { app.route({ method: 'GET', url: '/bad', config: { governHttp: null as never }, ...dual }) }
  }), { code: 'WSG_INVALID_OPTION', message: /route GET \/bad: config\.governHttp must be a boolean/ })
})
