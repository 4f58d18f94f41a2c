// credentialWebSocket() in the frameworks it is for: graphql-ws's webSocketImpl and tRPC's
// createWSClient({ WebSocket }), each with `url: () => Class.prepare(url)`, against a route
// governed by auth-handshake. The routes speak just enough of each protocol to be opened.
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import { createClient } from 'graphql-ws'
import { createWSClient } from '@trpc/client'
import { authHandshake, requirePrincipal } from '@wsguard/auth-handshake'
import { claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'
import { credentialWebSocket } from '../src/node.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const token = (sub: string): string => mintToken(key, claimsFor(ISS, AUD, sub, Date.now(), 600))

interface Opened { sub: string, protocol: string, close (code: number, reason: string): void }

/** A server with /graphql (acknowledges connection_init) and /trpc, both needing a token. */
async function server (t: Test): Promise<{ base: string, opened: Opened[], next: () => Promise<Opened> }> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) }, carriers: ['subprotocol'] })
  const opened: Opened[] = []
  const waiters: Array<(o: Opened) => void> = []
  const record = (socket: { protocol: string, close (code: number, reason: string): void }, request: FastifyRequest): void => {
    // the principal is the proof the token was offered: auth-handshake strips the entry before this
    const o = { sub: requirePrincipal(request).id, protocol: socket.protocol, close: (code: number, reason: string) => { socket.close(code, reason) } }
    opened.push(o)
    waiters.shift()?.(o)
  }
  app.get('/graphql', { websocket: true }, (socket, request) => {
    socket.on('message', (raw) => {
      if ((JSON.parse(String(raw)) as { type: string }).type === 'connection_init') socket.send(JSON.stringify({ type: 'connection_ack' }))
    })
    record(socket, request)
  })
  app.get('/trpc', { websocket: true }, (socket, request) => { record(socket, request) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    opened,
    next: async () => await new Promise((resolve) => { waiters.push(resolve) })
  }
}

t.test('graphql-ws: an async token through prepare(), beside graphql-transport-ws, which the server selects', async (t) => {
  const s = await server(t)
  let asked = 0
  const GraphqlSocket = credentialWebSocket({ getToken: async () => { asked++; return token('alice') } })
  let acknowledged: () => void = () => {}
  const connected = new Promise<void>((resolve) => { acknowledged = resolve })
  const client = createClient({
    url: async () => await GraphqlSocket.prepare(`${s.base}/graphql`),
    webSocketImpl: GraphqlSocket,
    lazy: false,
    retryAttempts: 0,
    on: { connected: () => { acknowledged() } }
  })
  t.teardown(async () => { await Promise.resolve(client.dispose()).catch(() => {}) })
  await connected
  t.same(s.opened.map(({ sub, protocol }) => ({ sub, protocol })), [{ sub: 'alice', protocol: 'graphql-transport-ws' }])
  t.equal(asked, 1)
})

t.test('tRPC: our protocol and a token per socket; its reconnect prepares a fresh one', async (t) => {
  const s = await server(t)
  const subjects = ['bob', 'bob-2']
  const TrpcSocket = credentialWebSocket({ getToken: async () => token(subjects.shift() ?? 'nobody'), protocols: ['trpc'] })
  const first = s.next()
  const client = createWSClient({
    url: async () => await TrpcSocket.prepare(`${s.base}/trpc`),
    WebSocket: TrpcSocket,
    retryDelayMs: () => 0
  })
  t.teardown(async () => { await client.close() })
  const one = await first
  t.same({ sub: one.sub, protocol: one.protocol }, { sub: 'bob', protocol: 'trpc' })
  const second = s.next()
  one.close(1001, 'server shutting down')
  const two = await second
  t.equal(two.sub, 'bob-2', 'the reconnect asked for a new token')
  t.equal(two.protocol, 'trpc')
})
