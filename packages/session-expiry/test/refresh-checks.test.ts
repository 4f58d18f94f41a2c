import t from 'tap'
import { topicAuthz } from '@wsguard/topic-authz'
import { ChannelName, requirePrincipal, type Principal, type TopicDecisionMessage } from '@wsguard/core'
import { harness, listen, open, T0 } from './helpers.js'

const orders = (app: import('fastify').FastifyInstance): void => {
  app.get('/orders/:tenant', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } } }, (socket, req) => {
    socket.on('message', () => { socket.send(JSON.stringify({ tenant: requirePrincipal(req).claims.tenant, expiresAt: requirePrincipal(req).expiresAt })) })
  })
}

t.test('a refresh must pass the route\'s handshake topic: a same-subject token of another tenant is refused', async (t) => {
  const { base, token } = await harness(t, {
    before: async (app) => { await app.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] }) },
    routes: orders
  })
  const c = await open(t, `${base}/orders/acme`, token('alice', 120, { tenant: 'acme' }))
  c.send({ type: 'auth.refresh', token: token('alice', 3600, { tenant: 'globex' }) })
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_TOPIC_DENIED' }, 'refused as the handshake would be (403 WSG_TOPIC_DENIED)')
  t.same(await c.ask('who'), { tenant: 'acme', expiresAt: T0 + 120_000 }, 'the socket keeps the tenant it was opened with')
  c.send({ type: 'auth.refresh', token: token('alice', 3600, { tenant: 'acme' }) })
  t.same(await c.next(), { type: 'auth.refreshed', expiresAt: T0 + 3_600_000 }, 'the same tenant refreshes')
})

// Session 28's review (Z29): a handshake topic built from a claim was resolved again from the
// new token, so globex's token was checked against globex's feed and kept acme's socket.
t.test('a refresh must pass the handshake topic the socket was admitted to when it is built from a claim', async (t) => {
  const { base, token } = await harness(t, {
    before: async (app) => { await app.register(topicAuthz, { policies: [{ pattern: 'tenant.{tenant}.feed', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] }) },
    routes: (app) => {
      app.get('/tenant-feed', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'tenant.{claims.tenant}.feed' } } }, (socket, req) => {
        socket.on('message', () => { socket.send(JSON.stringify({ tenant: requirePrincipal(req).claims.tenant, expiresAt: requirePrincipal(req).expiresAt })) })
      })
    }
  })
  const c = await open(t, `${base}/tenant-feed`, token('alice', 120, { tenant: 'acme' }))
  c.send({ type: 'auth.refresh', token: token('alice', 3600, { tenant: 'globex' }) })
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_TOPIC_DENIED' }, 'refused: the socket is on tenant.acme.feed, which globex may not hold')
  t.same(await c.ask('who'), { tenant: 'acme', expiresAt: T0 + 120_000 }, 'the socket keeps its principal and its deadline')
  c.send({ type: 'auth.refresh', token: token('alice', 3600, { tenant: 'acme' }) })
  t.same(await c.next(), { type: 'auth.refreshed', expiresAt: T0 + 3_600_000 }, 'the same tenant refreshes')
})

// Session 29's review: the route's checks ran before the subject was compared, so bob's token
// on alice's socket was answered WSG_TOPIC_DENIED and left a topic.denied audit line naming bob.
t.test('a token of another subject is refused before the route\'s checks run on it', async (t) => {
  const { base, token } = await harness(t, {
    before: async (app) => { await app.register(topicAuthz, { policies: [{ pattern: 'user.{u}.inbox', actions: ['subscribe'], where: { u: 'id' } }] }) },
    routes: (app) => {
      app.get('/inbox', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'user.{id}.inbox' } } }, (socket) => {
        socket.on('message', () => { socket.send('pong') })
      })
    }
  })
  const c = await open(t, `${base}/inbox`, token('alice', 120))
  const decisions = listen<TopicDecisionMessage>(t, ChannelName.topicDecision)
  t.same(await c.ask({ type: 'auth.refresh', token: token('bob', 3600) }), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  t.same(decisions.seen, [], 'no decision was made on bob')
})

t.test('a refresh must pass the route\'s scope rules even with a custom authenticator', async (t) => {
  const without: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'custom', issuer: 'https://idp.test', scopes: Object.freeze([]), claims: {}, sessionId: 's', expiresAt: T0 + 3_600_000 })
  const { base, token } = await harness(t, { session: { authenticate: async () => ({ ok: true, principal: without }) } })
  const c = await open(t, `${base}/feed`, token('alice', 120))
  c.send({ type: 'auth.refresh', token: 'anything' })
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_INSUFFICIENT_SCOPE' }, 'auth-handshake\'s route rule (feed:read) ran on the new principal')
})
