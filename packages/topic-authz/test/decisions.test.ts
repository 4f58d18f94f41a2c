import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { ChannelName, channel, type TopicDecisionMessage } from '@wsguard/core'
import { captureLogs, FakeClock } from '@wsguard/testing'
import { topicAuthz, type TopicAuthzOptions, type TopicRule } from '../src/index.js'
import { principal } from './helpers.js'

const ROUTE = '/ws/orders/:tenant'

async function build (t: Test, opts: TopicAuthzOptions, topics?: TopicRule[]): Promise<FastifyInstance> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, opts)
  if (topics !== undefined) app.get(ROUTE, { websocket: true, config: { topics } }, () => {})
  await app.ready()
  return app
}

const orderRules: TopicRule[] = [
  { pattern: 'orders.{tenant}.>', actions: ['subscribe'], scopes: ['orders:read'], where: { tenant: 'claims.tenant' } },
  { pattern: 'orders.{tenant}.*.cancel', actions: ['publish'], scopes: ['orders:write'], where: (p) => (p.claims.roles as string[] | undefined)?.includes('trader') === true }
]

const acmeReader = principal({ scopes: ['orders:read'], claims: { tenant: 'acme' } })
const acmeTrader = principal({ scopes: ['orders:read', 'orders:write'], claims: { tenant: 'acme', roles: ['trader'] } })
const acmeViewer = principal({ scopes: ['orders:write'], claims: { tenant: 'acme', roles: ['viewer'] } })

t.test('every reason, through app.topicAuthz.authorize', async (t) => {
  const app = await build(t, { policies: [{ pattern: 'status.>', actions: ['subscribe'] }] }, orderRules)
  const az = (p: Parameters<typeof app.topicAuthz.authorize>[0], action: string, topic: string) => app.topicAuthz.authorize(p, action, topic, ROUTE)

  t.same(az(acmeReader, 'subscribe', 'orders.acme.eu'), { allow: true, rule: 'orders.{tenant}.>', captures: { tenant: 'acme' } })
  t.same(az(acmeReader, 'subscribe', 'status.health'), { allow: true, rule: 'status.>' }, 'app-wide rule on a route')
  t.same(az(acmeReader, 'subscribe', 'orders.globex.eu'), { allow: false, rule: 'orders.{tenant}.>', reason: 'claim-mismatch' })
  t.same(az(acmeViewer, 'subscribe', 'orders.acme.eu'), { allow: false, rule: 'orders.{tenant}.>', reason: 'missing-scope' })
  t.same(az(acmeTrader, 'publish', 'orders.acme.o1.cancel'), { allow: true, rule: 'orders.{tenant}.*.cancel', captures: { tenant: 'acme' } })
  t.same(az(acmeViewer, 'publish', 'orders.acme.o1.cancel'), { allow: false, rule: 'orders.{tenant}.*.cancel', reason: 'predicate' })
  t.same(az(acmeTrader, 'publish', 'orders.acme.eu'), { allow: false, reason: 'no-rule' }, 'subscribe rule does not grant publish')
  t.same(az(acmeTrader, 'delete', 'orders.acme.eu'), { allow: false, reason: 'unknown-action' }, 'an unknown action is granted by nothing')
  t.same(az(acmeReader, 'subscribe', 'orders.acme.*'), { allow: false, reason: 'invalid-topic' }, 'wildcards are not topics')
  t.same(az(acmeReader, 'subscribe', 42 as unknown as string), { allow: false, reason: 'invalid-topic' })
  t.same(app.topicAuthz.authorize(acmeReader, 'subscribe', 'orders.acme.eu'), { allow: false, reason: 'no-rule' }, 'without route: app-wide rules only')
  t.same(app.topicAuthz.authorize(acmeReader, 'subscribe', 'status.x'), { allow: true, rule: 'status.>' })
  t.ok(Object.isFrozen(az(acmeReader, 'subscribe', 'orders.acme.eu')), 'decisions are frozen')
  t.throws(() => app.topicAuthz.authorize(acmeReader, 'subscribe', 'status.x', '/nope'), { name: 'TypeError', message: /no websocket route '\/nope'/ })
  t.equal(app.topicAuthz.mode, 'enforce')
})

t.test('a principal without authentication: only rules that ask nothing allow', async (t) => {
  const app = await build(t, {
    policies: [
      { pattern: 'public.>', actions: ['subscribe'] },
      { pattern: 'scoped.>', actions: ['subscribe'], scopes: ['s'] },
      { pattern: 'bound.{x}', actions: ['subscribe'], where: { x: 'id' } },
      { pattern: 'pred.>', actions: ['subscribe'], where: () => true },
      { pattern: 'fresh.>', actions: ['subscribe'], maxAuthAgeMs: 1000 },
      { pattern: 'acr.>', actions: ['subscribe'], acr: ['mfa'] }
    ]
  })
  const az = (topic: string) => app.topicAuthz.authorize(null, 'subscribe', topic).reason ?? 'allowed'
  t.equal(az('public.a'), 'allowed')
  t.equal(az('scoped.a'), 'missing-scope')
  t.equal(az('bound.alice'), 'claim-mismatch')
  t.equal(az('pred.a'), 'predicate')
  t.equal(az('fresh.a'), 'stale-auth')
  t.equal(az('acr.a'), 'stale-auth')
})

t.test('declaration order decides among rules that allow; the closest failure explains a denial', async (t) => {
  const app = await build(t, {
    policies: [
      { pattern: 'a.>', actions: ['subscribe'], scopes: ['x'] },
      { pattern: 'a.{n}', actions: ['subscribe'], where: { n: 'id' } },
      { pattern: 'a.*', actions: ['subscribe'], maxAuthAgeMs: 0 },
      { pattern: 'a.b', actions: ['subscribe'] }
    ]
  })
  const p = principal({ id: 'bob' })
  t.same(app.topicAuthz.authorize(p, 'subscribe', 'a.bob'), { allow: true, rule: 'a.{n}', captures: { n: 'bob' } }, 'first passing rule in declaration order')
  t.same(app.topicAuthz.authorize(p, 'subscribe', 'a.b'), { allow: true, rule: 'a.b' })
  const d = app.topicAuthz.authorize(p, 'subscribe', 'a.c')
  t.same(d, { allow: false, rule: 'a.*', reason: 'stale-auth', stepUp: { maxAuthAgeMs: 0 } }, 'stale-auth beats claim-mismatch and missing-scope')
  t.same(app.topicAuthz.authorize(p, 'subscribe', 'a.c.d'), { allow: false, rule: 'a.>', reason: 'missing-scope' })
})

t.test('freshness: maxAuthAgeMs against auth_time, acr in a set, step-up in the decision', async (t) => {
  const clock = new FakeClock(1_800_000_000_000)
  const app = await build(t, {
    clock,
    policies: [
      { pattern: 'trade.{acct}.>', actions: ['publish'], where: { acct: 'claims.account' }, maxAuthAgeMs: 300_000, acr: ['urn:mfa', 'urn:hw'] }
    ]
  })
  const signedIn = (agoMs: number, acr?: string) => principal({ claims: { account: 'a1', auth_time: (clock.now() - agoMs) / 1000, ...(acr === undefined ? {} : { acr }) } })
  const stepUp = { maxAuthAgeMs: 300_000, acr: ['urn:mfa', 'urn:hw'] }
  t.same(app.topicAuthz.authorize(signedIn(60_000, 'urn:mfa'), 'publish', 'trade.a1.buy'), { allow: true, rule: 'trade.{acct}.>', captures: { acct: 'a1' } })
  t.same(app.topicAuthz.authorize(signedIn(300_000, 'urn:hw'), 'publish', 'trade.a1.buy').allow, true, 'exactly at the limit')
  t.same(app.topicAuthz.authorize(signedIn(300_001, 'urn:mfa'), 'publish', 'trade.a1.buy'), { allow: false, rule: 'trade.{acct}.>', reason: 'stale-auth', stepUp })
  t.same(app.topicAuthz.authorize(signedIn(1000, 'urn:pwd'), 'publish', 'trade.a1.buy').reason, 'stale-auth', 'acr not in the set')
  t.same(app.topicAuthz.authorize(signedIn(1000), 'publish', 'trade.a1.buy').reason, 'stale-auth', 'no acr')
  t.same(app.topicAuthz.authorize(principal({ claims: { account: 'a1', acr: 'urn:mfa' } }), 'publish', 'trade.a1.buy').reason, 'stale-auth', 'no auth_time')
  t.same(app.topicAuthz.authorize(principal({ claims: { account: 'a1', acr: 'urn:mfa', auth_time: 'yesterday' as unknown as number } }), 'publish', 'trade.a1.buy').reason, 'stale-auth', 'auth_time not a number')
  t.same(app.topicAuthz.authorize(signedIn(1000, 'urn:mfa'), 'publish', 'trade.a2.buy').reason, 'claim-mismatch', 'freshness is only asked once the rest passes')
})

t.test('a predicate that throws or returns a non-boolean denies, and the throw is logged', async (t) => {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, {
    policies: [
      { pattern: 'boom.{x}', actions: ['subscribe'], where: () => { throw new Error('db down') } },
      { pattern: 'truthy.>', actions: ['subscribe'], where: () => 'yes' as unknown as boolean },
      { pattern: 'seen.{x}.{y}', actions: ['subscribe'], where: (p, c) => p.id === 'alice' && c.x === '1' && c.y === '2' && Object.isFrozen(c) }
    ]
  })
  await app.ready()
  t.same(app.topicAuthz.authorize(principal(), 'subscribe', 'boom.1'), { allow: false, rule: 'boom.{x}', reason: 'predicate' })
  t.same(app.topicAuthz.authorize(principal(), 'subscribe', 'truthy.1').reason, 'predicate', 'only true allows')
  t.equal(app.topicAuthz.authorize(principal(), 'subscribe', 'seen.1.2').allow, true, 'the predicate gets the principal and frozen captures')
  const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'topic-authz: a where predicate threw; denied')
  t.equal(line?.level, 50)
  t.equal((line?.err as { message?: string } | undefined)?.message, 'db down')
  t.equal(line?.rule, 'boom.{x}')
})

t.test('shadow mode allows everything and says what enforcement would have done', async (t) => {
  const app = await build(t, { mode: 'shadow' }, orderRules)
  const seen: TopicDecisionMessage[] = []
  const listener = (m: TopicDecisionMessage): void => { seen.push(m) }
  channel(ChannelName.topicDecision).subscribe(listener)
  t.teardown(() => channel(ChannelName.topicDecision).unsubscribe(listener))
  t.equal(app.topicAuthz.mode, 'shadow')
  t.same(app.topicAuthz.authorize(acmeReader, 'subscribe', 'orders.globex.eu', ROUTE), { allow: true, rule: 'orders.{tenant}.>', reason: 'claim-mismatch', shadow: true })
  t.same(app.topicAuthz.authorize(acmeReader, 'subscribe', 'orders.acme.eu', ROUTE), { allow: true, rule: 'orders.{tenant}.>', captures: { tenant: 'acme' }, shadow: true })
  t.same(app.topicAuthz.authorize(acmeReader, 'subscribe', '..', ROUTE), { allow: true, reason: 'invalid-topic', shadow: true })
  t.equal(app.topicAuthz.authorize(acmeReader, 'subscribe', '..', ROUTE), app.topicAuthz.authorize(acmeReader, 'subscribe', '.', ROUTE), 'shadow decisions are made once per verdict')
  t.same(seen.slice(0, 3).map((m) => [m.allow, m.reason, m.shadow, m.route, m.topic]), [
    [false, 'claim-mismatch', true, ROUTE, 'orders.globex.eu'],
    [true, undefined, true, ROUTE, 'orders.acme.eu'],
    [false, 'invalid-topic', true, ROUTE, '..']
  ])
})

t.test('decisions are published with the rule or the reason, the principal and a bounded topic', async (t) => {
  const app = await build(t, { maxTopicLength: 10 }, orderRules)
  const seen: TopicDecisionMessage[] = []
  const listener = (m: TopicDecisionMessage): void => { seen.push(m) }
  channel(ChannelName.topicDecision).subscribe(listener)
  t.teardown(() => channel(ChannelName.topicDecision).unsubscribe(listener))
  app.topicAuthz.authorize(acmeReader, 'subscribe', 'orders.x.y', ROUTE)
  app.topicAuthz.authorize(acmeReader, 'subscribe', 'x'.repeat(100), ROUTE)
  app.topicAuthz.authorize(null, 'subscribe', 'status')
  app.topicAuthz.authorize(acmeReader, 'subscribe', { not: 'a string' } as unknown as string)
  const { appIdentity } = await import('@wsguard/core')
  const id = appIdentity(app)
  t.same(seen, [
    { app: id, route: ROUTE, action: 'subscribe', allow: false, rule: 'orders.{tenant}.>', reason: 'claim-mismatch', shadow: false, principal: acmeReader, topic: 'orders.x.y' },
    { app: id, route: ROUTE, action: 'subscribe', allow: false, reason: 'invalid-topic', shadow: false, principal: acmeReader, topic: 'xxxxxxxxxx' },
    { app: id, action: 'subscribe', allow: false, reason: 'no-rule', shadow: false, principal: null, topic: 'status' },
    { app: id, action: 'subscribe', allow: false, reason: 'invalid-topic', shadow: false, principal: acmeReader, topic: '' }
  ])
  t.equal(typeof id, 'symbol', 'the app is named by a symbol')
})

t.test('custom actions and bounds', async (t) => {
  const app = await build(t, { actions: ['presence', 'history:read'], maxSegments: 3, policies: [{ pattern: 'room.*', actions: ['presence', 'history:read'] }] })
  t.equal(app.topicAuthz.authorize(principal(), 'presence', 'room.1').allow, true)
  t.equal(app.topicAuthz.authorize(principal(), 'history:read', 'room.1').allow, true)
  t.equal(app.topicAuthz.authorize(principal(), 'subscribe', 'room.1').reason, 'unknown-action', 'the default actions are replaced')
  t.equal(app.topicAuthz.authorize(principal(), 'presence', 'room.1.a.b').reason, 'invalid-topic', 'over maxSegments')
})

t.test('a token sent where a topic belongs is not published (it would reach the audit log)', async (t) => {
  const { generateKey, mintToken } = await import('@wsguard/testing')
  const token = mintToken(generateKey('EdDSA'), { sub: 'a' })
  const app = await build(t, {})
  const seen: TopicDecisionMessage[] = []
  const listener = (m: TopicDecisionMessage): void => { seen.push(m) }
  channel(ChannelName.topicDecision).subscribe(listener)
  t.teardown(() => channel(ChannelName.topicDecision).unsubscribe(listener))
  t.same(app.topicAuthz.authorize(acmeReader, 'subscribe', token), { allow: false, reason: 'no-rule' }, 'a short token is a well-formed topic')
  app.topicAuthz.authorize(acmeReader, 'subscribe', `${token}.${'x'.repeat(300)}`)
  t.same(seen.map((m) => m.topic), ['[redacted: looks like a token]', '[redacted: looks like a token]'])
  t.notOk(JSON.stringify(seen).includes(token.split('.')[2] as string))
})
