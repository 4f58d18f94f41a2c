// Type tests: compiled by `pnpm typecheck`, never run. Each public option is used once with
// its right type and once, under @ts-expect-error, with a wrong one.
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { Principal, TopicDenyReason } from '@wsguard/core'
import {
  topicAuthz, type TopicAuthzOptions, type TopicRule, type TopicDecision, type HandshakeTopic, type StepUp,
  type TopicPredicate, type TopicAuthzMode, DEFAULT_ACTIONS, DEFAULT_DECISION_CACHE_SIZE, DEFAULT_MAX_SEGMENTS, DEFAULT_MAX_TOPIC_LENGTH, DEFAULT_MODE
} from '../src/index.js'

const predicate: TopicPredicate = (principal, captures) => principal.id === captures.user
const rule: TopicRule = {
  pattern: 'orders.{tenant}.>',
  actions: ['subscribe'],
  scopes: ['orders:read'],
  where: { tenant: 'claims.tenant' },
  maxAuthAgeMs: 300_000,
  acr: ['urn:mfa']
}
const ruleWithPredicate: TopicRule = { pattern: 'u.{user}', actions: ['publish'], where: predicate }

const options: TopicAuthzOptions = {
  policies: [rule, ruleWithPredicate],
  actions: ['subscribe', 'publish', 'presence'],
  mode: 'shadow',
  decisionCacheSize: 256,
  maxTopicLength: 256,
  maxSegments: 16,
  clock: { now: () => Date.now() }
}

// @ts-expect-error policies is an array of rules
const badPolicies: TopicAuthzOptions = { policies: rule }
// @ts-expect-error actions is an array of strings
const badActions: TopicAuthzOptions = { actions: 'subscribe' }
// @ts-expect-error mode is 'enforce' or 'shadow'
const badMode: TopicAuthzOptions = { mode: 'audit' }
// @ts-expect-error decisionCacheSize is a number
const badCache: TopicAuthzOptions = { decisionCacheSize: '256' }
// @ts-expect-error maxTopicLength is a number
const badLength: TopicAuthzOptions = { maxTopicLength: true }
// @ts-expect-error maxSegments is a number
const badSegments: TopicAuthzOptions = { maxSegments: '16' }
// @ts-expect-error clock has now()
const badClock: TopicAuthzOptions = { clock: { now: 'today' } }
// @ts-expect-error pattern is required
const noPattern: TopicRule = { actions: ['subscribe'] }
// @ts-expect-error where maps captures to principal paths (strings)
const badWhere: TopicRule = { pattern: 'a.{x}', actions: ['subscribe'], where: { x: 1 } }
// @ts-expect-error maxAuthAgeMs is a number of ms
const badAge: TopicRule = { pattern: 'a', actions: ['subscribe'], maxAuthAgeMs: '5m' }
// @ts-expect-error acr is a list
const badAcr: TopicRule = { pattern: 'a', actions: ['subscribe'], acr: 'urn:mfa' }
// @ts-expect-error a predicate returns a boolean
const badPredicate: TopicRule = { pattern: 'a', actions: ['subscribe'], where: () => 'yes' }

const handshake: HandshakeTopic = { action: 'subscribe', topic: 'orders.{params.tenant}.all' }
// @ts-expect-error topic is required
const badHandshake: HandshakeTopic = { action: 'subscribe' }

const mode: TopicAuthzMode = DEFAULT_MODE
const numbers: number[] = [DEFAULT_DECISION_CACHE_SIZE, DEFAULT_MAX_SEGMENTS, DEFAULT_MAX_TOPIC_LENGTH]
const actions: readonly string[] = DEFAULT_ACTIONS

const app = Fastify()
await app.register(websocket)
await app.register(topicAuthz, options)
app.get('/ws/orders/:tenant', {
  websocket: true,
  config: { topics: [rule], handshakeTopic: [handshake] }
}, (socket, req) => {
  const d: TopicDecision = req.authorizeTopic('subscribe', 'orders.acme.eu')
  const allow: boolean = d.allow
  const reason: TopicDenyReason | undefined = d.reason
  const stepUp: StepUp | undefined = d.stepUp
  const captured: string | undefined = d.captures?.tenant
  // @ts-expect-error decisions are read-only
  d.allow = true
  socket.send(JSON.stringify({ allow, reason, stepUp, captured }))
})
// @ts-expect-error config.topics is an array of rules
app.get('/ws/bad', { websocket: true, config: { topics: 'orders.>' } }, () => {})

const p = null as unknown as Principal
const fromCode: TopicDecision = app.topicAuthz.authorize(p, 'publish', 'orders.acme.o1.cancel', '/ws/orders/:tenant')
const anonymous: TopicDecision = app.topicAuthz.authorize(null, 'subscribe', 'status.up')
const m: 'enforce' | 'shadow' = app.topicAuthz.mode

export { badPolicies, badActions, badMode, badCache, badLength, badSegments, badClock, noPattern, badWhere, badAge, badAcr, badPredicate, badHandshake, mode, numbers, actions, fromCode, anonymous, m }
