import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { generateKey, jwks, probeUpgrade } from '@wsguard/testing'
import { authHandshake } from '../src/index.js'

// core's guard lets an unadmitted upgrade to a { handler, wsHandler } route (added before the
// plugin) reach the upgrade and terminates the socket in wss 'connection'. @fastify/websocket
// calls the route's wsHandler right after that event, so the app's handler still runs, for a
// client that presented no credential (ungoverned.ts claims "before any route handler sees it").

const key = generateKey('ES256')

t.test('an early { handler, wsHandler } route never runs its wsHandler for an unauthenticated upgrade', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  const calls: Array<{ principal: unknown, readyState: number }> = []
  app.route({
    method: 'GET',
    url: '/both-early',
    handler: async () => 'http',
    wsHandler: (socket, req) => { calls.push({ principal: req.principal, readyState: socket.readyState }) }
  })
  await app.register(authHandshake, { jwt: { issuer: 'https://idp.test', audience: 'feed-api', algorithms: ['ES256'], jwks: jwks(key) } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/both-early`
  t.same(await probeUpgrade(url, {}, (fn) => { t.teardown(fn) }), { kind: 'refused', status: 400, code: 'WSG_BAD_REQUEST' }, 'refused before the upgrade')
  t.same(calls, [], 'the app\'s handler never ran for a client without a credential')
})
