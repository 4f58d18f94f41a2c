import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { ChannelName, appIdentity, channel, type TopicDecisionMessage } from '@wsguard/core'
import { topicAuthz, type TopicAuthzOptions } from '../src/index.js'
import { DecisionCache } from '../src/cache.js'
import { Decider } from '../src/decider.js'
import { validateOptions } from '../src/options.js'
import { RuleSet } from '../src/policy.js'
import { compileRules } from '../src/rules.js'
import { principal } from './helpers.js'

// Finding 4: a client-chosen action became a metric label and an audit field as given, and a
// cache key: 3,000 distinct actions made 3,000 permanent series.

const ROUTE = '/ws'
const reader = principal({ scopes: ['read'] })

function listen (t: Test): TopicDecisionMessage[] {
  const seen: TopicDecisionMessage[] = []
  const listener = (m: TopicDecisionMessage): void => { seen.push(m) }
  channel(ChannelName.topicDecision).subscribe(listener)
  t.teardown(() => channel(ChannelName.topicDecision).unsubscribe(listener))
  return seen
}

async function build (t: Test, opts: TopicAuthzOptions = {}): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'status.>', actions: ['subscribe'] }], ...opts })
  app.get(ROUTE, { websocket: true, config: { topics: [{ pattern: 'room.*', actions: ['publish'] }] } }, (socket, req) => {
    socket.on('message', (raw) => {
      const { action, topic } = JSON.parse(String(raw)) as { action: string, topic: string }
      socket.send(JSON.stringify(req.authorizeTopic(action, topic)))
    })
  })
  await app.ready()
  return app
}

t.test('an action outside opts.actions is denied as unknown-action and published as [unknown]', async (t) => {
  const seen = listen(t)
  const app = await build(t)
  const flood = Array.from({ length: 3000 }, (_, i) => `act-${i}`)
  for (const action of flood) {
    t.same(app.topicAuthz.authorize(reader, action, 'status.up', ROUTE), { allow: false, reason: 'unknown-action' }, action)
  }
  t.same(app.topicAuthz.authorize(reader, 'subscribe', 'status.up', ROUTE), { allow: true, rule: 'status.>' }, 'a known action still decides')
  t.same(app.topicAuthz.authorize(reader, 'publish', 'bad..topic'), { allow: false, reason: 'invalid-topic' })
  t.same(app.topicAuthz.authorize(reader, 42 as unknown as string, 'status.up'), { allow: false, reason: 'unknown-action' }, 'a non-string action')
  t.same(app.topicAuthz.authorize(reader, 'x'.repeat(10_000), '..'), { allow: false, reason: 'unknown-action' }, 'checked before the topic')
  t.equal(seen.length, 3004)
  const actions = new Set(seen.map((m) => m.action))
  t.same([...actions].sort(), ['[unknown]', 'publish', 'subscribe'], 'only the configured actions and one fixed word are published')
  t.same(seen[0], { app: appIdentity(app), route: ROUTE, action: '[unknown]', allow: false, reason: 'unknown-action', shadow: false, principal: reader, topic: 'status.up' })
  t.notOk(JSON.stringify(seen).includes('act-'), 'no published message carries a client action')
})

t.test('in-band: request.authorizeTopic denies an unknown action the same way', async (t) => {
  const seen = listen(t)
  const app = await build(t, { actions: ['subscribe', 'publish', 'presence'] })
  const ws = await app.injectWS(ROUTE)
  t.teardown(() => ws.terminate())
  const ask = (message: unknown): Promise<unknown> => new Promise((resolve) => {
    ws.once('message', (data) => { resolve(JSON.parse(String(data))) })
    ws.send(JSON.stringify(message))
  })
  t.same(await ask({ action: 'delete', topic: 'room.1' }), { allow: false, reason: 'unknown-action' })
  t.same(await ask({ action: 'publish', topic: 'room.1' }), { allow: true, rule: 'room.*' })
  t.same(await ask({ action: 'presence', topic: 'room.1' }), { allow: false, reason: 'no-rule' }, 'a configured action no rule grants')
  t.same(seen.map((m) => [m.action, m.reason]), [['[unknown]', 'unknown-action'], ['publish', undefined], ['presence', 'no-rule']])
})

t.test('shadow mode allows an unknown action like any other denial, and says why', async (t) => {
  const seen = listen(t)
  const app = await build(t, { mode: 'shadow' })
  t.same(app.topicAuthz.authorize(reader, 'delete', 'status.up'), { allow: true, reason: 'unknown-action', shadow: true })
  t.same(seen.map((m) => [m.action, m.allow, m.reason, m.shadow]), [['[unknown]', false, 'unknown-action', true]])
})

t.test('unknown actions never enter the connection cache', async (t) => {
  const config = validateOptions({})
  const decider = new Decider(config, Symbol('app'))
  const policy = { route: undefined, sets: [new RuleSet(compileRules([{ pattern: '>', actions: ['subscribe'] }], 0, 'p', { actions: config.actions, maxSegments: 16 }))] }
  const cache = new DecisionCache(256)
  const log = Fastify().log
  for (let i = 0; i < 3000; i++) decider.decide(policy, reader, `act-${i}`, 'status.up', cache, log)
  t.equal(cache.size, 0, 'nothing cached for 3,000 unknown actions')
  t.equal(decider.decide(policy, reader, 'subscribe', 'status.up', cache, log).allow, true)
  t.equal(cache.size, 1, 'a known action is cached')
})
