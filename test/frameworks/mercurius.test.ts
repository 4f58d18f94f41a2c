// GraphQL subscriptions over mercurius 16, with graphql-ws 6's own client, behind wsguard:
// the recipe in docs/recipes/mercurius.md, proved.
import t, { type Test } from 'tap'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import mercurius, { type IResolvers } from 'mercurius'
import { createClient, type Client } from 'graphql-ws'
import { ChannelName, principalOf, type HandshakeRejectedMessage, type Principal, type SessionOpenedMessage, type TopicDecisionMessage } from '@wsguard/core'
import { connectSocket, FakeClock, until } from '@wsguard/testing'
import { recordingWebSocket, expiredToken, record, registerWsguard, T0, token, type Frames } from './helpers.js'

const schema = `
  type Order { id: ID!, tenant: String!, viewer: String }
  type Query { me: String }
  type Subscription { orderPlaced(tenant: String!): Order }
`

interface Context { principal: Principal | null, request?: { authorizeTopic: (action: string, topic: string) => { allow: boolean, reason?: string }, wsSession: { trackTopic: (topic: string) => void } } }

const resolvers: IResolvers = {
  Query: { me: async (_root, _args, ctx) => (ctx as unknown as Context).principal?.id ?? 'anonymous' },
  Order: { viewer: (_order, _args, ctx) => (ctx as unknown as Context).principal?.id ?? null },
  Subscription: {
    orderPlaced: {
      // Per-subscription topic check: the same policy as every other topic decision.
      subscribe: async (_root, { tenant }: { tenant: string }, ctx) => {
        const { request, pubsub } = ctx as unknown as Context & { pubsub: { subscribe: (topic: string) => Promise<unknown> } }
        const topic = `orders.${tenant}`
        const decision = (request as NonNullable<Context['request']>).authorizeTopic('subscribe', topic)
        if (!decision.allow) throw new Error(`topic ${topic} denied (${String(decision.reason)})`)
        request?.wsSession.trackTopic(topic)
        return await pubsub.subscribe(topic)
      }
    }
  }
}

interface Server {
  app: FastifyInstance
  clock: FakeClock
  url: string
  /** publishes an order to `orders.<tenant>` */
  publish: (tenant: string, id: string) => Promise<void>
  /** raw requests mercurius's own verifyClient saw, and principals the app's registration's verifyClient saw */
  verified: { mercurius: number, app: Array<string | null> }
}

async function server (t: Test, opts: { governHttp?: boolean, trustProxy?: boolean, preClose?: (this: FastifyInstance, done: () => void) => void } = {}): Promise<Server> {
  const clock = new FakeClock(T0)
  const app = Fastify({ trustProxy: opts.trustProxy === true })
  t.teardown(() => app.close())
  const verified: Server['verified'] = { mercurius: 0, app: [] }
  // The app registers @fastify/websocket (wsguard depends on it), so mercurius does not:
  // its `verifyClient` and its 1 MiB maxPayload move here.
  await app.register(websocket, {
    options: {
      maxPayload: 1024,
      // ws calls it inside the route handler's upgrade, after every wsguard hook passed.
      verifyClient: (info, next) => { verified.app.push(principalOf(info.req)?.id ?? null); next(true) }
    },
    ...(opts.preClose !== undefined ? { preClose: opts.preClose } : {})
  })
  await registerWsguard(app, clock, opts.preClose !== undefined ? { shutdown: 'after-preclose' } : {})
  await app.register(mercurius, {
    schema,
    resolvers,
    context: (request) => ({ principal: request.principal ?? null }),
    subscription: {
      // What resolvers see over the socket: the principal, and the request for topic checks.
      context: (_socket, request) => ({ principal: request.principal, request }),
      verifyClient: (_info, next) => { verified.mercurius++; next(true) }
    },
    additionalRouteOptions: { config: { auth: { scopes: ['orders:read'] }, ...(opts.governHttp === true ? { governHttp: true } : {}) } }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    clock,
    url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/graphql`,
    publish: async (tenant, id) => { await app.graphql.pubsub.publish({ topic: `orders.${tenant}`, payload: { orderPlaced: { id, tenant } } }) },
    verified
  }
}

interface GqlClient {
  client: Client
  frames: Frames
  closes: Array<{ code: number, reason: string }>
  /** what made the client give up (graphql-ws's onNonLazyError): a terminal close, or the last failure once out of retries */
  gaveUp: unknown[]
}

function gqlClient (t: Test, url: string, getToken: () => string, retryAttempts = 0, connectionParams?: Record<string, unknown>): GqlClient {
  const frames: Frames = []
  const closes: GqlClient['closes'] = []
  const gaveUp: unknown[] = []
  const client = createClient({
    url,
    webSocketImpl: recordingWebSocket(getToken, frames),
    retryAttempts,
    retryWait: async () => {},
    shouldRetry: () => true,
    lazy: false,
    ...(connectionParams !== undefined ? { connectionParams } : {}),
    onNonLazyError: (err) => { gaveUp.push(err) },
    on: { closed: (event) => { const e = event as { code: number, reason: string }; closes.push({ code: e.code, reason: String(e.reason) }) } }
  })
  // dispose() rethrows the last connection failure (a refused retry): it is the test's to assert, not teardown's.
  t.teardown(async () => { await Promise.resolve(client.dispose()).catch(() => {}) })
  return { client, frames, closes, gaveUp }
}

/** Subscribes and resolves once mercurius holds the subscription, with an iterator of its results. */
async function subscribe (c: GqlClient, tenant: string, opened: { seen: SessionOpenedMessage[] }): Promise<AsyncIterableIterator<{ data?: unknown, errors?: unknown }>> {
  const before = opened.seen.length
  const it = c.client.iterate({ query: `subscription { orderPlaced(tenant: "${tenant}") { id tenant viewer } }` })
  await until(() => opened.seen.length > before, 'the socket to open')
  return it as AsyncIterableIterator<{ data?: unknown, errors?: unknown }>
}

/** Publishes until the subscriber has it (mercurius subscribes after connection_init, on its own schedule). */
async function deliver (s: Server, it: AsyncIterableIterator<unknown>, tenant: string, id: string): Promise<unknown> {
  const next = it.next()
  let got: IteratorResult<unknown> | undefined
  next.then((r) => { got = r }, () => {})
  await until(async () => { if (got === undefined) await s.publish(tenant, id); return got !== undefined }, 'an event to arrive')
  return (got as IteratorResult<unknown>).value
}

t.test('accepted: the token in the handshake, the principal in the subscription context and the resolvers', async (t) => {
  const s = await server(t)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const c = gqlClient(t, s.url, () => token(s.clock, 'alice', 600))
  const it = await subscribe(c, 'acme', opened)
  t.same(await deliver(s, it, 'acme', 'o-1'), { data: { orderPlaced: { id: 'o-1', tenant: 'acme', viewer: 'alice' } } })
  t.match(opened.seen, [{ principal: { id: 'alice' }, route: '/graphql' }])
  t.same(s.verified, { mercurius: 0, app: ['alice'] }, 'mercurius\'s verifyClient is never called; the app registration\'s one sees the principal')
})

t.test('refused before the upgrade, with its code; another tenant\'s topic refused per subscription', async (t) => {
  const s = await server(t)
  const rejected = record<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const missing = await connectSocket(s.url, { teardown: (fn) => t.teardown(fn) })
  t.match(missing, { refused: true, status: 401, body: { code: 'WSG_CREDENTIAL_MISSING' } })
  const bad = gqlClient(t, s.url, () => 'not-a-token')
  await until(() => bad.gaveUp.length > 0, 'the client to give up')
  t.match(rejected.seen.at(-1), { code: 'WSG_TOKEN_INVALID', route: '/graphql' }, 'the graphql-ws client is refused before any socket opens')
  t.equal(opened.seen.length, 0)

  const c = gqlClient(t, s.url, () => token(s.clock, 'alice', 600))
  const it = await subscribe(c, 'globex', opened)
  const denied: unknown = await it.next().catch((errors: unknown) => errors)
  t.match(denied, [{ message: 'topic orders.globex denied (claim-mismatch)' }], 'the subscription errs; the socket stays open')
})

t.test('a connection_init payload\'s X-Forwarded-For does not choose the address of the topic decisions (trustProxy)', async (t) => {
  const s = await server(t, { trustProxy: true })
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const decisions = record<TopicDecisionMessage>(t, ChannelName.topicDecision)
  // mercurius copies these into the handshake request's headers before each subscription.
  const c = gqlClient(t, s.url, () => token(s.clock, 'alice', 600), 0, { headers: { 'x-forwarded-for': '203.0.113.66' } })
  const it = await subscribe(c, 'globex', opened)
  await it.next().catch(() => {})
  t.match(decisions.seen, [{ topic: 'orders.globex', allow: false, reason: 'claim-mismatch', remoteAddress: '127.0.0.1' }], 'the address the socket opened from')
})

t.test('expiry closes the subscription 4401, with no frame the graphql-ws client does not know', async (t) => {
  const s = await server(t)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const c = gqlClient(t, s.url, () => token(s.clock, 'alice', 120))
  const it = await subscribe(c, 'acme', opened)
  t.match(await deliver(s, it, 'acme', 'o-1'), { data: { orderPlaced: { id: 'o-1' } } })
  s.clock.advance(60_000) // the notice moment: nothing is sent on graphql-transport-ws
  t.match(await deliver(s, it, 'acme', 'o-2'), { data: { orderPlaced: { id: 'o-2' } } }, 'still subscribed after the notice moment')
  s.clock.advance(65_000)
  await t.rejects(it.next(), { code: 4401, reason: 'credential expired' }, 'the subscription ends with the close')
  t.same(c.closes, [{ code: 4401, reason: 'credential expired' }], 'closed by the server, not 4004 by the client')
  t.notOk(c.frames.some((f) => f.includes('auth.')), 'no control frame reached the client')
  t.match(c.gaveUp, [{ code: 4401 }], 'the graphql-ws client treats 4401 as terminal: reported, not retried')
})

t.test('revocation closes the subscription 4403; the client\'s retry with the same token is refused 401', async (t) => {
  const s = await server(t)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const rejected = record<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const tok = token(s.clock, 'alice', 600)
  const c = gqlClient(t, s.url, () => tok, 1)
  const it = await subscribe(c, 'acme', opened)
  t.match(await deliver(s, it, 'acme', 'o-1'), { data: { orderPlaced: { id: 'o-1' } } })
  s.clock.advance(1_000)
  t.same(await s.app.wsSessions.revoke({ subject: 'alice' }), { closed: 1 })
  await until(() => rejected.seen.length > 0, 'graphql-ws to retry (it retries 4403)')
  t.equal(c.closes[0]?.code, 4403)
  t.match(rejected.seen, [{ code: 'WSG_TOKEN_REVOKED', statusCode: 401 }])
  t.equal(opened.seen.length, 1, 'the retry opened no socket')
})

t.test('an expired token inside the clock tolerance: refused 401 at each retry, never opened and closed', async (t) => {
  const s = await server(t)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const rejected = record<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const stale = expiredToken(s.clock, 'alice', 2_000)
  const c = gqlClient(t, s.url, () => stale, 4)
  await until(() => c.gaveUp.length > 0, 'the client to run out of retries')
  t.equal(rejected.seen.length, 5)
  t.ok(rejected.seen.every((m) => m.code === 'WSG_TOKEN_EXPIRED'))
  t.equal(opened.seen.length, 0, 'no open → 4401 loop')
})

t.test('the HTTP half of GET /graphql is the app\'s: untouched without a token, governed only with governHttp', async (t) => {
  const open = await server(t)
  const plain = await open.app.inject({ url: '/graphql?query=%7Bme%7D' })
  t.same([plain.statusCode, plain.json()], [200, { data: { me: 'anonymous' } }])
  const governed = await server(t, { governHttp: true })
  const refused = await governed.app.inject({ url: '/graphql?query=%7Bme%7D' })
  t.same([refused.statusCode, refused.json().code], [401, 'WSG_CREDENTIAL_MISSING'])
  const ok = await governed.app.inject({ url: '/graphql?query=%7Bme%7D', headers: { authorization: `Bearer ${token(governed.clock, 'alice', 600)}` } })
  t.same(ok.json(), { data: { me: 'alice' } })
  const post = await governed.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ me }' } })
  t.same(post.json(), { data: { me: 'anonymous' } }, 'POST /graphql is a plain route: never governed by wsguard (protect it as HTTP)')
})

t.test('maxPayload from the app\'s @fastify/websocket registration applies (mercurius\'s own 1 MiB does not)', async (t) => {
  const s = await server(t)
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const c = gqlClient(t, s.url, () => token(s.clock, 'alice', 600))
  const it = await subscribe(c, 'x'.repeat(2_000), opened)
  await t.rejects(it.next(), { code: 1009 }, 'a 2 KB subscribe message over maxPayload 1024: 1009')
})

t.test('a custom preClose says its goodbye (shutdown: \'after-preclose\')', async (t) => {
  const s = await server(t, {
    preClose (done) {
      for (const client of this.websocketServer.clients) client.close(1012, 'restarting')
      done()
    }
  })
  const opened = record<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const c = gqlClient(t, s.url, () => token(s.clock, 'alice', 600))
  const it = await subscribe(c, 'acme', opened)
  t.match(await deliver(s, it, 'acme', 'o-1'), { data: { orderPlaced: { id: 'o-1' } } })
  await s.app.close()
  t.same(c.closes, [{ code: 1012, reason: 'restarting' }], 'the app\'s own close, not session-expiry\'s 1001')
})
