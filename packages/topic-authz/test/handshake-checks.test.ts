import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { ChannelName, channel, runHandshakeChecks, type Principal, type TopicDecisionMessage } from '@wsguard/core'
import { probeUpgrade } from '@wsguard/testing'
import { topicAuthz } from '../src/index.js'
import { principal } from './helpers.js'

t.test('the handshake topic is a registered handshake check: a refresh runs it on the new principal', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] })
  // Stands in for auth-handshake: a principal of tenant acme.
  app.addHook('onRequest', async (request) => { request.principal = principal({ claims: { tenant: 'acme' } }) })
  app.get('/orders/:tenant', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } } }, (socket, req) => {
    Promise.all([
      runHandshakeChecks(req, principal({ claims: { tenant: 'acme' } })),
      runHandshakeChecks(req, principal({ claims: { tenant: 'globex' } }))
    ]).then((codes) => { socket.send(JSON.stringify(codes.map(String))) }, () => {})
  })
  app.route({
    method: 'GET',
    url: '/both/:tenant',
    config: { handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } },
    handler: async () => 'the app\'s own HTTP side',
    wsHandler: (socket) => { socket.send('opened') }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  t.same(await probeUpgrade(`${base}/orders/acme`, {}, (fn) => { t.teardown(fn) }), { kind: 'message', data: '["undefined","WSG_TOPIC_DENIED"]' })
  const plain = await app.inject('/both/globex')
  t.same([plain.statusCode, plain.body], [200, 'the app\'s own HTTP side'], 'a request that is not an upgrade is no handshake: its topic is not checked')
  t.same(await probeUpgrade(`${base}/both/globex`, {}, (fn) => { t.teardown(fn) }), { kind: 'refused', status: 403, code: 'WSG_TOPIC_DENIED' }, 'the upgrade is')
})

// Found by session 28's review (Z29): a refresh resolved `{claims.tenant}` again from the new
// token, so a same-subject token of tenant globex was checked against globex's feed and passed,
// and the socket admitted to acme's feed stayed on it with a globex principal.
interface Claimed { codes: string[], decisions: TopicDecisionMessage[] }

/** A socket admitted to `tenant.{claims.tenant}.feed` as acme's, then refreshed with each principal. */
async function refreshOnClaimTopic (t: Test, pattern: string, mode: 'enforce' | 'shadow', admittedAs: Principal, next: Principal[]): Promise<Claimed> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  const where = pattern.includes('{tenant}') ? { where: { tenant: 'claims.tenant' } } : {}
  await app.register(topicAuthz, { mode, policies: [{ pattern, actions: ['subscribe'], ...where }] })
  app.addHook('onRequest', async (request) => { request.principal = admittedAs })
  const decisions: TopicDecisionMessage[] = []
  app.get('/feed', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'tenant.{claims.tenant}.feed' } } }, (socket, req) => {
    const listener = (m: unknown): void => { decisions.push(m as TopicDecisionMessage) }
    channel(ChannelName.topicDecision).subscribe(listener)
    Promise.all(next.map((p) => runHandshakeChecks(req, p))).then((codes) => {
      channel(ChannelName.topicDecision).unsubscribe(listener)
      socket.send(JSON.stringify(codes.map(String)))
    }, () => {})
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`
  const got = await probeUpgrade(url, {}, (fn) => { t.teardown(fn) })
  return { codes: got.kind === 'message' ? JSON.parse(got.data) as string[] : [got.kind], decisions }
}

const acme = principal({ claims: { tenant: 'acme' } })
const globex = principal({ claims: { tenant: 'globex' } })
const none = principal({ claims: {} })

t.test('a refresh is decided on the topic the socket was admitted to, not on one its new principal resolves', async (t) => {
  const r = await refreshOnClaimTopic(t, 'tenant.{tenant}.feed', 'enforce', acme, [acme, globex, none])
  t.same(r.codes, ['undefined', 'WSG_TOPIC_DENIED', 'WSG_TOPIC_DENIED'], 'acme passes; globex, and a principal with no tenant at all, are refused on acme\'s feed')
})

t.test('a principal whose claims name another topic is refused even where the policy would allow it on this one', async (t) => {
  // No `where`: any principal may hold any tenant's feed, asked in-band. The handshake ties the
  // socket to its own tenant's feed; a refresh must not untie it.
  const r = await refreshOnClaimTopic(t, 'tenant.*.feed', 'enforce', acme, [acme, globex, none])
  t.same(r.codes, ['undefined', 'WSG_TOPIC_DENIED', 'WSG_TOPIC_DENIED'])
  t.match(r.decisions, [
    { allow: true, topic: 'tenant.acme.feed', action: 'subscribe', shadow: false },
    { allow: false, topic: 'tenant.acme.feed', reason: 'claim-mismatch', shadow: false, principal: globex },
    { allow: false, topic: 'tenant.acme.feed', reason: 'claim-mismatch', shadow: false, principal: none }
  ], 'each published as a decision on the socket\'s topic')
  t.equal(r.decisions.length, 3)
})

t.test('shadow mode: the refusal is published and allowed, like every shadow decision', async (t) => {
  const r = await refreshOnClaimTopic(t, 'tenant.*.feed', 'shadow', acme, [globex])
  t.same(r.codes, ['undefined'])
  t.match(r.decisions, [{ allow: false, shadow: true, reason: 'claim-mismatch', topic: 'tenant.acme.feed' }], 'published as the denial it would be')
  t.equal(r.decisions.length, 1, 'published once, not decided again on the policy')
  // Admitted in shadow mode with no tenant at all: nothing resolved to keep; the template is decided.
  const unresolved = await refreshOnClaimTopic(t, 'tenant.*.feed', 'shadow', none, [acme])
  t.same(unresolved.codes, ['undefined'])
  t.match(unresolved.decisions, [{ allow: false, shadow: true, reason: 'invalid-topic', topic: 'tenant.{claims.tenant}.feed' }])
})

t.test('the checks run on a request whose handshake topic was never admitted: refused', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'orders.>', actions: ['subscribe'] }] })
  const asked: string[] = []
  // Before preValidation, where topic-authz admits the handshake: nothing was admitted yet.
  app.addHook('onRequest', async (request) => { asked.push(String(await runHandshakeChecks(request, principal()))) })
  app.get('/orders', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'orders.all' } } }, (socket, req) => {
    runHandshakeChecks(req, principal()).then((code) => { socket.send(String(code)) }, () => {})
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  t.same(await probeUpgrade(`${base}/orders`, {}, (fn) => { t.teardown(fn) }), { kind: 'message', data: 'undefined' }, 'after the upgrade, the admitted topic passes')
  t.same(asked, ['WSG_TOPIC_DENIED'], 'before it, there is no admitted topic to keep: refused, never resolved afresh')
})
