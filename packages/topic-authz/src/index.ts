import fp from 'fastify-plugin'
import { topicAuthzPlugin, type TopicAuthz } from './plugin.js'
import type { HandshakeTopic } from './handshake-topic.js'
import type { TopicDecision } from './policy.js'
import type { TopicRule } from './rules.js'

export type { TopicAuthz } from './plugin.js'
export type { TopicAuthzOptions, TopicAuthzMode } from './options.js'
export { DEFAULT_ACTIONS, DEFAULT_MODE } from './options.js'
export type { TopicRule, TopicPredicate, StepUp } from './rules.js'
export type { TopicDecision } from './policy.js'
export type { HandshakeTopic } from './handshake-topic.js'
export { DEFAULT_DECISION_CACHE_SIZE } from './cache.js'
export { DEFAULT_MAX_TOPIC_LENGTH, DEFAULT_MAX_SEGMENTS } from './topic.js'
export type { TopicDenyReason } from '@wsguard/core'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** topic-authz: this websocket route's rules, checked after the app-wide `policies` */
    topics?: readonly TopicRule[]
    /** topic-authz: checked before the upgrade; denied is 403 `WSG_TOPIC_DENIED` */
    handshakeTopic?: HandshakeTopic | readonly HandshakeTopic[]
  }
  interface FastifyRequest {
    /**
     * Decides `action` on `topic` for `request.principal` with this route's rules. Never
     * throws: a malformed topic is denied with reason `invalid-topic`, an action outside the
     * plugin's `actions` with `unknown-action`.
     */
    authorizeTopic(action: string, topic: string): TopicDecision
  }
  interface FastifyInstance {
    topicAuthz: TopicAuthz
  }
}

/**
 * Per-route topic policies: who may subscribe or publish to which topics, checked against
 * `request.principal` before the upgrade (`config.handshakeTopic`) and per message
 * (`request.authorizeTopic`).
 */
export const topicAuthz = fp(topicAuthzPlugin, {
  fastify: '5.x',
  name: '@wsguard/topic-authz',
  dependencies: ['@fastify/websocket']
})

export default topicAuthz
