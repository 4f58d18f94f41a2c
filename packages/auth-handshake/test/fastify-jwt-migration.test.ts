import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import fastifyJwt from '@fastify/jwt'
import type { AddressInfo } from 'node:net'
import { claimsFor, generateKey, mintToken } from '@wsguard/testing'
import { authHandshake, requirePrincipal } from '../src/index.js'
import { connect } from './helpers.js'

// How apps verify today, and migrating one websocket route at a time: HTTP routes keep their
// @fastify/jwt hook, a legacy websocket route keeps it too (config.auth: false), and the
// migrated route is governed by auth-handshake with the same keys, and its stricter checks.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const rsa = generateKey('RS256', 'rsa-1')
const secret = { public: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string }

/** The DIY way: one onRequest hook calling request.jwtVerify(), which reads the Authorization header. */
async function diy (request: FastifyRequest): Promise<void> {
  await request.jwtVerify()
}

async function listen (t: Test, app: FastifyInstance): Promise<string> {
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

const tokens = {
  good: mintToken(rsa, { ...claimsFor(ISS, AUD, 'alice'), scope: 'feed:read' }),
  // @fastify/jwt checks the signature (and exp if present); these pass it.
  forHttpApi: mintToken(rsa, { ...claimsFor(ISS, 'http-api', 'alice'), scope: 'feed:read' }),
  noExpiry: mintToken(rsa, { iss: ISS, aud: AUD, sub: 'alice', scope: 'feed:read' }),
  overScoped: mintToken(rsa, { ...claimsFor(ISS, AUD, 'alice'), scope: 'feed:read admin' })
}

t.test('today: one @fastify/jwt hook guards HTTP routes and the websocket route alike', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(fastifyJwt, { secret })
  app.addHook('onRequest', diy)
  app.get('/api/orders', async (req) => ({ user: (req.user as { sub: string }).sub }))
  app.get('/feed', { websocket: true }, (socket, req) => { socket.send(JSON.stringify({ user: (req.user as { sub: string }).sub })) })
  const host = await listen(t, app)
  const api = await fetch(`http://${host}/api/orders`, { headers: { authorization: `Bearer ${tokens.good}` } })
  t.same(await api.json(), { user: 'alice' })
  t.match(await connect(t, `ws://${host}`, { headers: { authorization: `Bearer ${tokens.good}` } }), { open: true, message: { user: 'alice' } })
  // What the migration is for: @fastify/jwt alone opens a socket with any token its key signed.
  for (const token of [tokens.forHttpApi, tokens.noExpiry, tokens.overScoped]) {
    t.equal((await connect(t, `ws://${host}`, { headers: { authorization: `Bearer ${token}` } })).open, true)
  }
  // A browser cannot set Authorization on a WebSocket: the token in a subprotocol is not found.
  const browser = await connect(t, `ws://${host}`, { protocols: ['app.v1', `bearer.${tokens.good}`] })
  t.equal(!browser.open && browser.status, 401)
})

t.test('migrating one route: HTTP and the legacy socket keep @fastify/jwt, /feed is governed by auth-handshake with the same keys', async (t) => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(fastifyJwt, { secret })
  // The hook now leaves the websocket routes auth-handshake governs to it (every route whose
  // config.auth is not false); it still verifies HTTP routes and the legacy socket.
  app.addHook('onRequest', async (request) => {
    if (request.ws && request.routeOptions.config.auth !== false) return
    await diy(request)
  })
  await app.register(authHandshake, {
    jwt: { issuer: ISS, audience: AUD, algorithms: ['RS256'], fastifyJwt: true }
  })
  app.get('/api/orders', async (req) => ({ user: (req.user as { sub: string }).sub }))
  app.get('/legacy', { websocket: true, config: { auth: false } }, (socket, req) => {
    socket.send(JSON.stringify({ user: (req.user as { sub: string }).sub, principal: req.principal }))
  })
  app.get('/feed', { websocket: true, config: { auth: { scopes: ['feed:read'], allowedScopes: ['feed:read'] } } }, (socket, req) => {
    socket.send(JSON.stringify({ principal: requirePrincipal(req).id, user: req.user }))
  })
  const host = await listen(t, app)
  const header = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })
  const api = (token: string) => fetch(`http://${host}/api/orders`, header(token)).then((r) => r.status)

  t.equal(await api(tokens.good), 200)
  t.match(await connect(t, `ws://${host}`, { ...header(tokens.good), path: '/legacy' }), { open: true, message: { user: 'alice', principal: null } })
  t.match(await connect(t, `ws://${host}`, { ...header(tokens.good), path: '/feed' }), { open: true, message: { principal: 'alice', user: null } })
  t.equal((await connect(t, `ws://${host}`, { protocols: ['app.v1', `bearer.${tokens.good}`], path: '/feed' })).open, true, 'a browser\'s subprotocol token')

  const refusals: Array<[string, string, number, string]> = [
    ['a token minted for the HTTP API', tokens.forHttpApi, 401, 'WSG_TOKEN_INVALID'],
    ['a token without exp', tokens.noExpiry, 401, 'WSG_TOKEN_INVALID'],
    ['a token with a scope /feed does not allow', tokens.overScoped, 403, 'WSG_OVERSCOPED_TOKEN']
  ]
  for (const [name, token, status, code] of refusals) {
    t.equal(await api(token), 200, `HTTP, unchanged, accepts ${name}`)
    t.equal((await connect(t, `ws://${host}`, { ...header(token), path: '/legacy' })).open, true, `the legacy socket accepts ${name}`)
    const feed = await connect(t, `ws://${host}`, { ...header(token), path: '/feed' })
    t.equal(!feed.open && feed.status, status, `/feed refuses ${name}`)
    t.equal(!feed.open && JSON.parse(feed.body).code, code)
  }
  t.equal(await fetch(`http://${host}/api/orders`).then((r) => r.status), 401, 'HTTP without a token: @fastify/jwt\'s 401, as before')
})
