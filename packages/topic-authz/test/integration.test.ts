import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { Type } from '@sinclair/typebox'
import { authHandshake } from '@wsguard/auth-handshake'
import { ChannelName, channel, type HandshakeRejectedMessage, type Principal, type TopicDecisionMessage } from '@wsguard/core'
import { claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'
import { topicAuthz, type TopicAuthzOptions, type TopicRule } from '../src/index.js'
import { open } from './sockets.js'
import { principal } from './helpers.js'

const ISS = 'https://idp.test'
const AUD = 'orders-api'
const key = generateKey('ES256')

function token (sub: string, tenant: string, scope: string, extra: Record<string, unknown> = {}): string {
  return mintToken(key, { ...claimsFor(ISS, AUD, sub), tenant, scope, ...extra })
}

const orderTopics: TopicRule[] = [
  { pattern: 'orders.{tenant}.>', actions: ['subscribe'], scopes: ['orders:read'], where: { tenant: 'claims.tenant' } },
  { pattern: 'orders.{tenant}.*.cancel', actions: ['publish'], scopes: ['orders:write'], where: (p, c) => p.claims.tenant === c.tenant && (p.claims.roles as string[] | undefined)?.includes('trader') === true }
]

interface Built { app: FastifyInstance, base: string }

/** auth-handshake + topic-authz (registered in the order given) with an orders route that answers every message with a decision. */
async function build (t: Test, opts: TopicAuthzOptions = {}, order: 'auth-first' | 'topics-first' = 'auth-first', routes?: (app: FastifyInstance) => void): Promise<Built> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  const auth = async (): Promise<void> => {
    await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), claims: Type.Object({ tenant: Type.String() }) } })
  }
  const topics = async (): Promise<void> => {
    await app.register(topicAuthz, { policies: [{ pattern: 'status.>', actions: ['subscribe'] }], ...opts })
  }
  if (order === 'auth-first') { await auth(); await topics() } else { await topics(); await auth() }
  app.get('/ws/orders/:tenant', {
    websocket: true,
    config: { topics: orderTopics, handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}.all' } }
  }, (socket, req) => {
    socket.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { action: string, topic: string }
      socket.send(JSON.stringify(req.authorizeTopic(msg.action, msg.topic)))
    })
  })
  routes?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

function listen<M> (t: Test, name: Parameters<typeof channel>[0]): M[] {
  const seen: M[] = []
  const listener = (m: unknown): void => { seen.push(m as M) }
  channel(name).subscribe(listener as never)
  t.teardown(() => channel(name).unsubscribe(listener as never))
  return seen
}

for (const order of ['auth-first', 'topics-first'] as const) {
  t.test(`handshake topic, allowed and denied, before the upgrade (${order})`, async (t) => {
    const { base } = await build(t, {}, order)
    const rejections = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
    const alice = token('alice', 'acme', 'orders:read')

    const ok = await open(t, `${base}/ws/orders/acme`, alice)
    t.equal(ok.open, true, 'own tenant opens')

    const other = await open(t, `${base}/ws/orders/globex`, alice)
    t.equal(!other.open && other.status, 403)
    t.same(!other.open && other.body, { statusCode: 403, code: 'WSG_TOPIC_DENIED', error: 'Forbidden', message: 'Topic not allowed' })
    t.equal(!other.open && other.headers['www-authenticate'], undefined, 'no challenge: the token is fine, the topic is not')

    const noScope = await open(t, `${base}/ws/orders/acme`, token('alice', 'acme', 'profile'))
    t.equal(!noScope.open && noScope.status, 403)

    const injected = await open(t, `${base}/ws/orders/acme.all`, token('alice', 'acme.all', 'orders:read'))
    t.equal(!injected.open && injected.status, 403, 'a parameter holding a dot is not two segments')

    const noToken = await open(t, `${base}/ws/orders/acme`)
    t.equal(!noToken.open && noToken.status, 401, 'auth-handshake refuses first when there is no credential')

    t.same(rejections.filter((r) => r.source === '@wsguard/topic-authz').map((r) => [r.code, r.statusCode, r.route, r.detail, r.principal?.id]), [
      ['WSG_TOPIC_DENIED', 403, '/ws/orders/:tenant', 'claim-mismatch', 'alice'],
      ['WSG_TOPIC_DENIED', 403, '/ws/orders/:tenant', 'missing-scope', 'alice'],
      ['WSG_TOPIC_DENIED', 403, '/ws/orders/:tenant', 'invalid-topic', 'alice']
    ])
  })
}

t.test('a handshake topic longer than maxTopicLength is invalid-topic, though each segment is well formed', async (t) => {
  // 'orders.' + tenant + '.all' is 11 + 30 = 41 characters: over a maxTopicLength of 40.
  const { base } = await build(t, { maxTopicLength: 40 })
  const rejections = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const fits = 'a'.repeat(29)
  const ok = await open(t, `${base}/ws/orders/${fits}`, token('alice', fits, 'orders:read'))
  t.equal(ok.open, true, '40 characters: allowed')
  const long = 'a'.repeat(30)
  const refused = await open(t, `${base}/ws/orders/${long}`, token('alice', long, 'orders:read'))
  t.equal(!refused.open && refused.status, 403)
  t.same(rejections.map((r) => r.detail), ['invalid-topic'])
})

t.test('in-band subscribe and publish for two tenants', async (t) => {
  const { base } = await build(t)
  const acme = await open(t, `${base}/ws/orders/acme`, token('alice', 'acme', 'orders:read orders:write', { roles: ['trader'] }))
  const globex = await open(t, `${base}/ws/orders/globex`, token('bob', 'globex', 'orders:read'))
  if (!acme.open || !globex.open) throw new Error('both should open')

  t.same(await acme.ask({ action: 'subscribe', topic: 'orders.acme.eu.open' }), { allow: true, rule: 'orders.{tenant}.>', captures: { tenant: 'acme' } })
  t.same(await acme.ask({ action: 'subscribe', topic: 'orders.globex.eu' }), { allow: false, rule: 'orders.{tenant}.>', reason: 'claim-mismatch' })
  t.same(await acme.ask({ action: 'publish', topic: 'orders.acme.o-17.cancel' }), { allow: true, rule: 'orders.{tenant}.*.cancel', captures: { tenant: 'acme' } })
  t.same(await acme.ask({ action: 'publish', topic: 'orders.globex.o-17.cancel' }), { allow: false, rule: 'orders.{tenant}.*.cancel', reason: 'predicate' })
  t.same(await acme.ask({ action: 'subscribe', topic: 'status.up' }), { allow: true, rule: 'status.>' })

  t.same(await globex.ask({ action: 'subscribe', topic: 'orders.globex.eu' }), { allow: true, rule: 'orders.{tenant}.>', captures: { tenant: 'globex' } })
  t.same(await globex.ask({ action: 'subscribe', topic: 'orders.acme.eu' }), { allow: false, rule: 'orders.{tenant}.>', reason: 'claim-mismatch' })
  t.same(await globex.ask({ action: 'publish', topic: 'orders.globex.o-1.cancel' }), { allow: false, rule: 'orders.{tenant}.*.cancel', reason: 'missing-scope' })
  t.same(await globex.ask({ action: 'subscribe', topic: 'orders.globex.{x}' }), { allow: false, reason: 'invalid-topic' })
  t.same(await globex.ask({ action: 'subscribe', topic: null }), { allow: false, reason: 'invalid-topic' }, 'a non-string topic is denied, not thrown')
})

t.test('shadow mode: nothing is refused, every decision is published with what enforcement would do', async (t) => {
  const { base } = await build(t, { mode: 'shadow' })
  const decisions = listen<TopicDecisionMessage>(t, ChannelName.topicDecision)
  const rejections = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const bob = await open(t, `${base}/ws/orders/acme`, token('bob', 'globex', 'orders:read'))
  if (!bob.open) throw new Error('shadow mode opens')
  t.same(await bob.ask({ action: 'subscribe', topic: 'orders.acme.eu' }), { allow: true, rule: 'orders.{tenant}.>', reason: 'claim-mismatch', shadow: true })
  t.same(rejections, [], 'no rejection was published')
  t.same(decisions.map((d) => [d.topic, d.allow, d.reason, d.shadow, d.principal?.id]), [
    ['orders.acme.all', false, 'claim-mismatch', true, 'bob'],
    ['orders.acme.eu', false, 'claim-mismatch', true, 'bob']
  ])
})

t.test('stale sign-in: the handshake answers with an RFC 9470 step-up challenge', async (t) => {
  const { base } = await build(t, {}, 'auth-first', (app) => {
    app.get('/ws/trade/:account', {
      websocket: true,
      config: {
        topics: [{ pattern: 'trade.{account}', actions: ['publish'], where: { account: 'id' }, maxAuthAgeMs: 600_000, acr: ['mfa'] }],
        handshakeTopic: { action: 'publish', topic: 'trade.{params.account}' }
      }
    }, (socket) => { socket.send('{}') })
  })
  const now = Math.floor(Date.now() / 1000)
  const fresh = await open(t, `${base}/ws/trade/alice`, token('alice', 'acme', '', { auth_time: now - 60, acr: 'mfa' }))
  t.equal(fresh.open, true)
  const stale = await open(t, `${base}/ws/trade/alice`, token('alice', 'acme', '', { auth_time: now - 3600, acr: 'mfa' }))
  t.equal(!stale.open && stale.status, 403)
  t.equal(!stale.open && stale.body.code, 'WSG_TOPIC_DENIED')
  t.equal(!stale.open && stale.headers['www-authenticate'],
    'Bearer error="insufficient_user_authentication", error_description="A more recent or stronger authentication is required", max_age="600", acr_values="mfa"')
})

t.test('a new principal (an in-band refresh) empties the connection cache; the same one reuses it', async (t) => {
  let predicateCalls = 0
  const swapTo = principal({ id: 'alice', scopes: ['orders:read'], claims: { tenant: 'globex' } })
  const { base } = await build(t, { policies: [{ pattern: 'desk.{t}', actions: ['subscribe'], where: (p, c) => { predicateCalls++; return p.claims.tenant === c.t } }] }, 'auth-first', (app) => {
    app.get('/ws/desk', { websocket: true, config: { topics: [] } }, (socket, req) => {
      socket.on('message', (raw) => {
        const msg = JSON.parse(String(raw)) as { swap?: true, topic: string }
        // What session-expiry does on a successful refresh: a new frozen principal.
        if (msg.swap === true) req.principal = swapTo as Principal
        socket.send(JSON.stringify(req.authorizeTopic('subscribe', msg.topic)))
      })
    })
  })
  const c = await open(t, `${base}/ws/desk`, token('alice', 'acme', ''))
  if (!c.open) throw new Error('opens')
  t.equal((await c.ask({ topic: 'desk.acme' })).allow, true)
  t.equal((await c.ask({ topic: 'desk.acme' })).allow, true)
  t.equal(predicateCalls, 1, 'the second decision came from the cache')
  t.same(await c.ask({ swap: true, topic: 'desk.acme' }), { allow: false, rule: 'desk.{t}', reason: 'predicate' }, 'the new principal is decided afresh')
  t.equal((await c.ask({ topic: 'desk.globex' })).allow, true)
  t.equal(predicateCalls, 3)
})

t.test('a route without authentication: anonymous sockets get rules that ask for nothing', async (t) => {
  const { base } = await build(t, {}, 'auth-first', (app) => {
    app.get('/ws/public', { websocket: true, config: { auth: false, handshakeTopic: { action: 'subscribe', topic: 'status.all' } } }, (socket, req) => {
      socket.on('message', (raw) => { socket.send(JSON.stringify(req.authorizeTopic('subscribe', String(raw)))) })
    })
    app.get('/ws/public/:tenant', { websocket: true, config: { auth: false, handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}.all' } } }, () => {})
  })
  const anon = await open(t, `${base}/ws/public`)
  if (!anon.open) throw new Error('opens')
  anon.ws.send('status.up')
  const reply = await new Promise((resolve) => anon.ws.once('message', (d) => resolve(JSON.parse(String(d)))))
  t.same(reply, { allow: true, rule: 'status.>' })
  const denied = await open(t, `${base}/ws/public/acme`)
  t.equal(!denied.open && denied.status, 403, 'a rule with scopes denies a socket without a principal')
})

t.test('the handshake decision is not kept per connection; in-band decisions are cached', async (t) => {
  let calls = 0
  const { base } = await build(t, {}, 'auth-first', (app) => {
    app.get('/ws/room/:room', {
      websocket: true,
      config: {
        topics: [{ pattern: 'room.{r}', actions: ['subscribe'], where: () => { calls++; return true } }],
        handshakeTopic: [{ action: 'subscribe', topic: 'room.{params.room}' }, { action: 'subscribe', topic: 'status.{claims.tenant}' }]
      }
    }, (socket, req) => {
      socket.on('message', (raw) => { socket.send(JSON.stringify(req.authorizeTopic('subscribe', String(raw)))) })
    })
  })
  const c = await open(t, `${base}/ws/room/r1`, token('alice', 'acme', ''))
  if (!c.open) throw new Error('opens')
  t.equal(calls, 1, 'the predicate ran at the handshake')
  const ask = async (): Promise<unknown> => {
    c.ws.send('room.r1')
    return await new Promise((resolve) => c.ws.once('message', (d) => resolve(JSON.parse(String(d)))))
  }
  t.same(await ask(), { allow: true, rule: 'room.{r}', captures: { r: 'r1' } })
  t.equal(calls, 2, 'asked in-band, it is evaluated again: the handshake left no cache on the connection')
  t.same(await ask(), { allow: true, rule: 'room.{r}', captures: { r: 'r1' } })
  t.equal(calls, 2, 'asked again, the connection cache answers')
})

t.test('principal placeholders in the handshake topic, existing preValidation hooks, HTTP and 404 requests', async (t) => {
  const order: string[] = []
  const rejections = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const { app, base } = await build(t, { decisionCacheSize: 0 }, 'auth-first', (app) => {
    const handshakeTopic = { action: 'subscribe', topic: 'status.{claims.shard}' }
    app.get('/ws/shard', { websocket: true, config: { handshakeTopic }, preValidation: (_req, _reply, done) => { order.push('own hook'); done() } }, (socket) => { socket.send('{}') })
    app.get('/ws/shard-anon', { websocket: true, config: { auth: false, handshakeTopic }, preValidation: [(_req, _reply, done) => { order.push('own array hook'); done() }] }, () => {})
    app.get('/ws/plain', { websocket: true }, (socket, req) => {
      socket.on('message', (raw) => { socket.send(JSON.stringify(req.authorizeTopic('subscribe', JSON.parse(String(raw))))) })
    })
    app.get('/http', async (req) => req.authorizeTopic('subscribe', 'status.http'))
    app.setNotFoundHandler(async (req) => req.authorizeTopic('subscribe', 'status.none'))
  })
  t.equal((await open(t, `${base}/ws/shard`, token('alice', 'acme', '', { shard: 7 }))).open, true, 'a number claim fills a segment')
  const dotted = await open(t, `${base}/ws/shard`, token('alice', 'acme', '', { shard: 'a.b' }))
  t.equal(!dotted.open && dotted.status, 403, 'a claim holding a dot is not two segments')
  // 2^53 + 1 in the token is read as 2^53: an id past the safe integers names no one segment.
  const unsafe = await open(t, `${base}/ws/shard`, token('alice', 'acme', '', { shard: 2 ** 53 }))
  t.equal(!unsafe.open && unsafe.status, 403, 'a number claim past 2^53 - 1 fills no segment')
  const missing = await open(t, `${base}/ws/shard`, token('alice', 'acme', ''))
  t.equal(!missing.open && missing.status, 403, 'a missing claim denies')
  const anon = await open(t, `${base}/ws/shard-anon`)
  t.equal(!anon.open && anon.status, 403, 'no principal, no claim: denied')
  t.same(order, ['own hook', 'own hook', 'own hook', 'own hook', 'own array hook'], "the route's own hooks still run, first")
  t.same(rejections.map((r) => [r.detail, r.principal?.id ?? null]), [['invalid-topic', 'alice'], ['invalid-topic', 'alice'], ['invalid-topic', 'alice'], ['invalid-topic', null]])

  const plain = await open(t, `${base}/ws/plain`, token('alice', 'acme', ''))
  if (!plain.open) throw new Error('opens')
  t.same(await plain.ask('orders.acme.x'), { allow: false, reason: 'no-rule' }, "a route without topic config gets the app-wide rules, not another route's")
  t.same(await plain.ask('status.x'), { allow: true, rule: 'status.>' })

  t.same((await app.inject('/http')).json(), { allow: true, rule: 'status.>' }, 'HTTP requests can decide too (no principal)')
  t.same((await app.inject('/nowhere')).json(), { allow: true, rule: 'status.>' })
})

t.test('a rejection published with the Origin', async (t) => {
  const rejections = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const { base } = await build(t)
  const denied = await open(t, `${base}/ws/orders/globex`, token('alice', 'acme', 'orders:read'), 'https://app.test')
  t.equal(!denied.open && denied.status, 403)
  t.equal(rejections.at(-1)?.origin, 'https://app.test')
  t.ok((rejections.at(-1)?.durationMs ?? -1) >= 0)
})

t.test('in-band decisions are published with the remote address and session-expiry\'s connection id', async (t) => {
  const decisions = listen<TopicDecisionMessage>(t, ChannelName.topicDecision)
  const { base } = await build(t, {}, 'auth-first', (app) => {
    app.decorateRequest('wsSession', null as never)
    app.get('/ws/with-session', { websocket: true, config: { topics: [] } }, (socket, req) => {
      // What session-expiry sets before the handler runs.
      (req as unknown as { wsSession: { id: string } }).wsSession = { id: 'conn-1' }
      socket.on('message', (raw) => { socket.send(JSON.stringify(req.authorizeTopic('subscribe', String(raw)))) })
    })
  })
  const c = await open(t, `${base}/ws/with-session`, token('alice', 'acme', ''))
  if (!c.open) throw new Error('opens')
  c.ws.send('status.up')
  await new Promise((resolve) => c.ws.once('message', resolve))
  t.match(decisions.at(-1), { topic: 'status.up', allow: true, remoteAddress: '127.0.0.1', sessionId: 'conn-1' })
})

t.test('a websocket route added before the plugin, with a handshake topic or route rules, is refused (503)', async (t) => {
  const { captureLogs } = await import('@wsguard/testing')
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  app.get('/early/:tenant', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } } }, (socket) => { socket.send('should never open') })
  app.get('/early-rules', { websocket: true, config: { topics: [{ pattern: 'status.>', actions: ['subscribe'] }] } }, (socket) => { socket.send('should never open') })
  app.get('/early-plain', { websocket: true }, (socket) => { socket.send('no topic config') })
  await app.register(topicAuthz, { policies: [{ pattern: 'status.>', actions: ['subscribe'] }] })
  app.get('/late', { websocket: true, config: { topics: [{ pattern: 'news.>', actions: ['subscribe'] }] } }, (socket) => { socket.send('late') })
  app.get('/late-topic/:tenant', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'status.{params.tenant}' } } }, (socket) => { socket.send('late topic') })
  const seen = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  await app.ready()

  await t.rejects(app.injectWS('/early/acme'), { message: /Unexpected server response: 503/ })
  await t.rejects(app.injectWS('/early/globex'), { message: /Unexpected server response: 503/ })
  await t.rejects(app.injectWS('/early-rules'), { message: /Unexpected server response: 503/ })
  t.match(seen, [
    { source: '@wsguard/topic-authz', code: 'WSG_UNAVAILABLE', detail: 'route-not-governed', route: '/early/:tenant' },
    { route: '/early/:tenant' },
    { route: '/early-rules' }
  ])
  const said = logs.lines.filter((l) => l.includes('was added before the plugin'))
  t.equal(said.length, 2, 'said once per route')
  t.match(said[0], /"level":50.*websocket route \/early\/:tenant was added before the plugin/)
  for (const path of ['/early-plain', '/late', '/late-topic/ok']) {
    const ws = await app.injectWS(path)
    t.teardown(() => ws.terminate())
  }
  t.equal(seen.length, 3, 'a route without topic config, and routes added after, open as always')
})
