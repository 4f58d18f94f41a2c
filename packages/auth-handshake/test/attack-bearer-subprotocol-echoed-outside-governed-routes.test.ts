import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { captureLogs, claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'
import { authHandshake } from '../src/index.js'
import { rawUpgrade } from './helpers.js'

// The `bearer.` subprotocol entry is stripped only by hooks auth-handshake adds in onRoute.
// ws's default handleProtocols selects the first protocol offered, so on every route that
// still reaches the upgrade without those hooks the 101 echoes the token in
// Sec-WebSocket-Protocol: a plain HTTP route (upgraded by @fastify/websocket, then closed),
// an early { handler, wsHandler } route (cut by core's guard, after the 101), and an early
// route with config.auth: false. (That route's request log line is written before any hook of
// the plugin can run: only the app logger's serializer can redact it; see the README.)

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const token = mintToken(key, claimsFor(ISS, AUD, 'alice'))
const signature = token.split('.')[2] as string
const jwt = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }

async function build (t: Test, early: (app: FastifyInstance) => void, late: (app: FastifyInstance) => void) {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  early(app)
  await app.register(authHandshake, { jwt })
  late(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { logs, port: (app.server.address() as AddressInfo).port }
}

t.test('no 101 we send echoes a bearer subprotocol entry', async (t) => {
  const { port } = await build(t, (app) => {
    app.get('/public-early', { websocket: true, config: { auth: false } }, (socket) => { socket.send('hi') })
    app.route({ method: 'GET', url: '/both-early', handler: async () => 'http', wsHandler: (socket) => { socket.send('hi') } })
  }, (app) => {
    app.get('/health', async () => 'ok')
  })
  for (const path of ['/public-early', '/both-early', '/health']) {
    const head = await rawUpgrade(port, path, `Sec-WebSocket-Protocol: bearer.${token}, app.v1\r\n`)
    t.ok(head.startsWith('HTTP/1.1 '), `${path}: answered`)
    t.notOk(head.includes(signature), `${path}: the token is in no header we send (got ${head.split('\r\n')[0]})`)
  }
})
