// tRPC 11 subscriptions over @fastify/websocket behind wsguard, with tRPC's own client: the
// recipe in docs/recipes/trpc.md, proved.
import t, { type Test } from 'tap'
import type { AddressInfo } from 'node:net'
import { EventEmitter, on } from 'node:events'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { initTRPC, TRPCError, tracked } from '@trpc/server'
import { getWSConnectionHandler, type CreateWSSContextFnOptions } from '@trpc/server/adapters/ws'
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client'
import { ChannelName, principalOf, sessionOf, type HandshakeRejectedMessage, type SessionClosedMessage, type SessionOpenedMessage } from '@wsguard/core'
import { connectSocket, FakeClock, until, type SocketClient } from '@wsguard/testing'
import { recordingWebSocket, expiredToken, record, registerWsguard, T0, token, type Frames } from './helpers.js'

// The principal reaches tRPC through the raw request its createContext receives. tRPC builds
// the context once per connection: a getter reads the principal at each call, so one an
// in-band refresh replaced is the one procedures see.
function createContext ({ req }: CreateWSSContextFnOptions) {
  return { get principal () { return principalOf(req) }, session: sessionOf(req) }
}
const tr = initTRPC.context<typeof createContext>().create()
const orders = new EventEmitter()
let seq = 0

const router = tr.router({
  whoami: tr.procedure.query(({ ctx }) => ({ id: ctx.principal?.id ?? null, tenant: ctx.principal?.claims.tenant ?? null, session: ctx.session?.id !== undefined })),
  expiresAt: tr.procedure.query(({ ctx }) => ctx.principal?.expiresAt ?? null),
  orders: tr.procedure.subscription(async function * ({ ctx, signal }) {
    const principal = ctx.principal
    if (principal === null) throw new TRPCError({ code: 'UNAUTHORIZED' })
    for await (const [order] of on(orders, 'order', { signal })) {
      yield tracked(String(++seq), { ...(order as { id: string }), viewer: principal.id })
    }
  })
})

interface Server { app: FastifyInstance, clock: FakeClock, url: string }

async function server (t: Test): Promise<Server> {
  const clock = new FakeClock(T0)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await registerWsguard(app, clock)
  // The adapter's websocket route, declared by the app so that it carries the route rules
  // (fastifyTRPCPlugin's useWSS route takes no route options).
  // (Its types ask for the server too, which @fastify/websocket holds.)
  const onConnection = getWSConnectionHandler({ router, createContext, wss: app.websocketServer })
  app.get('/trpc', { websocket: true, config: { auth: { scopes: ['orders:read'] } } }, (socket, req) => { onConnection(socket, req.raw) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, clock, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/trpc` }
}

function trpcClient (t: Test, url: string, getToken: () => string) {
  const frames: Frames = []
  const closes: number[] = []
  const ws = createWSClient({
    url,
    WebSocket: recordingWebSocket(getToken, frames, ['trpc']),
    retryDelayMs: () => 0,
    onClose: (cause) => { closes.push(cause?.code ?? 0) }
  })
  t.teardown(async () => { await ws.close() })
  return { client: createTRPCClient<typeof router>({ links: [wsLink({ client: ws })] }), frames, closes }
}

t.test('accepted: the principal and the session in createContext (principalOf/sessionOf of the raw request)', async (t) => {
  const s = await server(t)
  const { client } = trpcClient(t, s.url, () => token(s.clock, 'alice', 600))
  t.same(await client.whoami.query(), { id: 'alice', tenant: 'acme', session: true })
})

// Session 28's review: the recipe's context captured the principal when the socket opened, so
// after an in-band refresh (any client may send one; tRPC's own does not) procedures kept
// deciding on the old principal, its scopes and claims, past the old token's expiry.
t.test('an in-band refresh: procedures see the new principal (the context reads it at each call)', async (t) => {
  const s = await server(t)
  const c = await connectSocket(s.url, { token: token(s.clock, 'alice', 120), teardown: (fn) => { t.teardown(fn) } }) as SocketClient
  const ask = async (id: number): Promise<unknown> => {
    c.send({ id, method: 'query', params: { path: 'expiresAt' } })
    return await c.next()
  }
  t.match(await ask(1), { id: 1, result: { type: 'data', data: T0 + 120_000 } })
  c.send({ type: 'auth.refresh', token: token(s.clock, 'alice', 3600) })
  t.same(await c.next(), { type: 'auth.refreshed', expiresAt: T0 + 3_600_000 })
  t.match(await ask(2), { id: 2, result: { type: 'data', data: T0 + 3_600_000 } }, 'the refreshed principal, not the one the socket opened with')
})

t.test('refused before the upgrade with its code: no socket, no context', async (t) => {
  const s = await server(t)
  const rejected = record<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const wrong = token(s.clock, 'alice', 600).replace(/\.[^.]+$/, '.AAAA')
  const { client } = trpcClient(t, s.url, () => wrong)
  client.whoami.query().catch(() => {})
  await until(() => rejected.seen.length >= 2, 'two refused attempts')
  t.match(rejected.seen[0], { code: 'WSG_TOKEN_INVALID', statusCode: 401, route: '/trpc' })
  t.equal(opened.seen.length, 0)
})

t.test('expiry: an unknown control frame is ignored by the tRPC client; 4401, then it resumes with a fresh token', async (t) => {
  const s = await server(t)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const closed = record<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const issued: string[] = []
  const c = trpcClient(t, s.url, () => { const tok = token(s.clock, 'alice', 120); issued.push(tok); return tok })
  const got: Array<{ id: string, viewer: string }> = []
  const errors: unknown[] = []
  const sub = c.client.orders.subscribe(undefined, { onData: (d) => { got.push(d.data) }, onError: (e) => { errors.push(e) } })
  t.teardown(() => sub.unsubscribe())
  const publishUntil = async (n: number, id: string): Promise<void> => {
    await until(() => { if (got.length < n) orders.emit('order', { id }); return got.length >= n }, `order ${id}`)
  }
  await until(() => opened.seen.length === 1, 'the socket to open')
  await publishUntil(1, 'o-1')
  s.clock.advance(60_000) // auth.expiring goes out: tRPC's client ignores a frame without an id
  await until(() => c.frames.some((f) => f.includes('auth.expiring')), 'the notice')
  await publishUntil(2, 'o-2')
  s.clock.advance(65_000)
  await until(() => opened.seen.length === 2, 'the client to reconnect')
  t.match(closed.seen, [{ closeCode: 4401 }])
  t.equal(issued.length, 2, 'a fresh token for the new socket')
  await publishUntil(3, 'o-3')
  t.match(got, [{ id: 'o-1', viewer: 'alice' }, { id: 'o-2' }, { id: 'o-3', viewer: 'alice' }], 'the subscription resumed on the new socket')
  t.same(errors, [], 'no error reached the app')
  t.same(c.closes, [4401])
})

t.test('revocation closes the socket 4403; reconnecting with the same token is refused 401', async (t) => {
  const s = await server(t)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const rejected = record<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const tok = token(s.clock, 'alice', 600)
  const c = trpcClient(t, s.url, () => tok)
  const sub = c.client.orders.subscribe(undefined, { onData: () => {} })
  t.teardown(() => sub.unsubscribe())
  await until(() => opened.seen.length === 1, 'the socket to open')
  s.clock.advance(1_000)
  t.same(await s.app.wsSessions.revoke({ subject: 'alice' }), { closed: 1 })
  await until(() => rejected.seen.length > 0, 'tRPC to reconnect')
  t.same(c.closes, [4403])
  t.match(rejected.seen[0], { code: 'WSG_TOKEN_REVOKED', statusCode: 401 })
  t.equal(opened.seen.length, 1)
})

t.test('an expired token inside the clock tolerance: tRPC\'s reconnect loop meets 401s, no socket opens', async (t) => {
  const s = await server(t)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const rejected = record<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const stale = expiredToken(s.clock, 'alice', 2_000)
  const c = trpcClient(t, s.url, () => stale)
  const sub = c.client.orders.subscribe(undefined, { onData: () => {} })
  t.teardown(() => sub.unsubscribe())
  await until(() => rejected.seen.length >= 11, 'eleven attempts (the issue saw eleven open → 4401 cycles)')
  t.ok(rejected.seen.every((m) => m.code === 'WSG_TOKEN_EXPIRED'))
  t.equal(opened.seen.length, 0, 'no open → 4401 loop')
})
