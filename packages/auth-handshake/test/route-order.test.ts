import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { captureLogs, claimsFor, encapsulations, generateKey, jwks, mintToken, probeUpgrade } from '@wsguard/testing'
import { authHandshake, requirePrincipal } from '../src/index.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const jwt = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }
const token = mintToken(key, claimsFor(ISS, AUD, 'alice'))

const route = (c: FastifyInstance, path: string): void => { c.get(path, { websocket: true }, (socket) => { socket.send('opened') }) }

t.test('a websocket route added before the plugin is refused 503 at every depth of encapsulation, with and without fastify-plugin', async (t) => {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  const paths = Object.entries(encapsulations).map(([name, place], i) => [name, `/v1/early${i}`, place] as const)
  for (const [, path, place] of paths) await place(app, path, route)
  // A route of the { handler, wsHandler } form: nothing tells it from a plain HTTP route.
  await app.register(async (c) => {
    c.route({ method: 'GET', url: '/v1/early-wshandler', handler: async () => 'http', wsHandler: (socket) => { socket.send('opened') } })
  })
  await app.register(authHandshake, { jwt })
  await app.register(async (c) => { c.get('/v1/late', { websocket: true }, (socket, req) => { socket.send(`hello ${requirePrincipal(req).id}`) }) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const teardown = (fn: () => void): void => { t.teardown(fn) }

  for (const [name, path] of paths) {
    t.same(await probeUpgrade(base + path, {}, teardown), { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, `${name}: no credential`)
    t.same(await probeUpgrade(base + path, { authorization: `Bearer ${token}` }, teardown), { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, `${name}: even a good token`)
  }
  t.same(await probeUpgrade(`${base}/v1/early-wshandler`, {}, teardown), { kind: 'refused', status: 400, code: 'WSG_BAD_REQUEST' }, 'a { handler, wsHandler } route: refused before the upgrade')
  t.same(await probeUpgrade(`${base}/v1/late`, {}, teardown), { kind: 'refused', status: 401, code: 'WSG_CREDENTIAL_MISSING' })
  t.same(await probeUpgrade(`${base}/v1/late`, { authorization: `Bearer ${token}` }, teardown), { kind: 'message', data: 'hello alice' })
  t.equal(logs.lines.filter((l) => l.includes('was added before the plugin')).length, paths.length, 'each early route logged once')
  t.notOk(logs.text().includes(token), 'no token in the log')
})

t.test('upgrades to unknown paths and plain HTTP routes are not refused as ungoverned, and log nothing of the kind', async (t) => {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  app.get('/plain-early', async () => 'plain')
  await app.register(authHandshake, { jwt })
  app.get('/plain-late', async () => 'plain')
  app.get('/feed', { websocket: true }, (socket) => { socket.send('opened') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const teardown = (fn: () => void): void => { t.teardown(fn) }

  t.same(await probeUpgrade(`${base}/nowhere`, {}, teardown), { kind: 'refused', status: 404, code: undefined }, 'an unknown path: 404')
  t.same(await probeUpgrade(`${base}/plain-early`, {}, teardown), { kind: 'refused', status: 400, code: 'WSG_BAD_REQUEST' }, 'a plain route added before: 400, never a 503')
  t.same(await probeUpgrade(`${base}/plain-late`, {}, teardown), { kind: 'refused', status: 400, code: 'WSG_BAD_REQUEST' }, 'a plain route added after: the same')
  t.same(await probeUpgrade(`${base}/feed`, { authorization: `Bearer ${token}` }, teardown), { kind: 'message', data: 'opened' })
  t.notOk(logs.text().includes('was added before'), 'no route-order error')
  t.notOk(logs.text().includes('undefined'), 'no "route undefined"')
})

t.test('the route\'s scope rules are a registered handshake check, so a refresh runs them on the new principal', async (t) => {
  const { runHandshakeChecks } = await import('@wsguard/core')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt })
  app.get('/orders', { websocket: true, config: { auth: { scopes: ['orders:read'], allowedScopes: ['orders:read'] } } }, (socket, req) => {
    const again = (scopes: string[]): Promise<unknown> => runHandshakeChecks(req, { ...requirePrincipal(req), scopes })
    Promise.all([again(['orders:read']), again([]), again(['orders:read', 'admin'])])
      .then((codes) => { socket.send(JSON.stringify(codes.map(String))) }, () => {})
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/orders`
  const scoped = mintToken(key, { ...claimsFor(ISS, AUD, 'alice'), scope: 'orders:read' })
  t.same(await probeUpgrade(url, { authorization: `Bearer ${scoped}` }, (fn) => { t.teardown(fn) }), { kind: 'message', data: '["undefined","WSG_INSUFFICIENT_SCOPE","WSG_OVERSCOPED_TOKEN"]' })
})
