import { ChannelName, channel, type AppIdentity, type Principal, type TopicDecisionMessage } from '@wsguard/core'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { addressOf } from './address.js'
import type { DecisionCache } from './cache.js'
import { evaluate, INVALID_TOPIC, UNKNOWN_ACTION, type RuleSet, type TopicDecision } from './policy.js'
import { publishedTopic, UNKNOWN_ACTION_LABEL } from './published.js'
import type { TopicAuthzConfig } from './options.js'
import { parseTopic } from './topic.js'

const decisions = channel(ChannelName.topicDecision)

/** The rules that apply on one route: the app-wide set, then the route's own. */
export interface RoutePolicy {
  /** the route's URL pattern; `undefined` for app-wide rules only */
  readonly route: string | undefined
  readonly sets: readonly RuleSet[]
}

/** Evaluates (or recalls), publishes and, in shadow mode, turns every decision into an allow. */
export class Decider {
  readonly #config: TopicAuthzConfig
  readonly #now: () => number
  readonly #shadow: boolean
  readonly #app: AppIdentity

  /** `app`: the app's identity (`appIdentity(fastify)`), which its published decisions carry */
  constructor (config: TopicAuthzConfig, app: AppIdentity) {
    this.#config = config
    this.#app = app
    this.#now = () => config.clock.now()
    this.#shadow = config.mode === 'shadow'
  }

  /**
   * Decides on `topic` (any value; a non-string is `invalid-topic`). An action outside the
   * plugin's `actions` is `unknown-action`: never evaluated, cached or published as given.
   * `parsed`: the topic's segments when the caller built it from segments it checked one by
   * one (a handshake topic: then only its length is checked here), or `false` when it already
   * knows the topic is not well formed (a placeholder whose value is not one segment).
   */
  decide (policy: RoutePolicy, principal: Principal | null, action: string, topic: unknown, cache: DecisionCache | undefined, log: FastifyBaseLogger, request?: FastifyRequest, parsed?: readonly string[] | false): TopicDecision {
    const known = this.#config.actions.has(action)
    const text = typeof topic === 'string' ? topic : ''
    let verdict: TopicDecision = UNKNOWN_ACTION
    const cached = known ? cache?.get(principal, action, text, this.#now) : undefined
    if (cached !== undefined) {
      verdict = cached.decision
    } else if (known) {
      const segs = parsed === undefined
        ? parseTopic(topic, this.#config)
        : parsed === false || text.length > this.#config.maxTopicLength ? undefined : parsed
      if (segs === undefined) {
        verdict = INVALID_TOPIC
      } else {
        const evaluation = evaluate(policy.sets, principal, action, segs, this.#now, (err, rule) => {
          log.error({ err, rule: rule.pattern, route: policy.route }, 'topic-authz: a where predicate threw; denied')
        })
        verdict = evaluation.decision
        // Garbage topics never enter the cache, so they cannot push real decisions out.
        cache?.set(principal, action, text, evaluation)
      }
    }
    if (decisions.hasSubscribers) this.#publish(policy, principal, known, action, text, verdict, request)
    return this.#shadow ? shadowOf(verdict) : verdict
  }

  /**
   * A denial the policy was not asked for (a refresh whose principal resolves a handshake
   * topic to another topic than the socket's): published like any decision on `topic`, and an
   * allow in shadow mode. `action` is one of the plugin's actions.
   */
  refuse (policy: RoutePolicy, principal: Principal | null, action: string, topic: string, verdict: TopicDecision, request: FastifyRequest): TopicDecision {
    if (decisions.hasSubscribers) this.#publish(policy, principal, true, action, topic, verdict, request)
    return this.#shadow ? shadowOf(verdict) : verdict
  }

  #publish (policy: RoutePolicy, principal: Principal | null, known: boolean, action: string, text: string, verdict: TopicDecision, request: FastifyRequest | undefined): void {
    // Optional fields set one by one: object spreads built a throwaway object per field per decision.
    const message: { -readonly [K in keyof TopicDecisionMessage]: TopicDecisionMessage[K] } = {
      app: this.#app,
      // A client chooses the action: only the configured ones become a label or a log field.
      action: known ? action : UNKNOWN_ACTION_LABEL,
      allow: verdict.allow,
      shadow: this.#shadow,
      principal,
      topic: publishedTopic(text, this.#config.maxTopicLength)
    }
    if (policy.route !== undefined) message.route = policy.route
    if (verdict.rule !== undefined) message.rule = verdict.rule
    if (verdict.reason !== undefined) message.reason = verdict.reason
    if (request !== undefined) {
      // A handshake's address as it was before the upgrade, never as headers added since say.
      const address = addressOf(request)
      if (address !== undefined) message.remoteAddress = address
      const sessionId = sessionOf(request)
      if (sessionId !== undefined) message.sessionId = sessionId
    }
    decisions.publish(message)
  }
}

/** session-expiry's connection id, read through the request (no import), when it is there. */
function sessionOf (request: FastifyRequest): string | undefined {
  const id = (request as { wsSession?: { id?: unknown } | null }).wsSession?.id
  return typeof id === 'string' ? id : undefined
}

const shadows = new WeakMap<TopicDecision, TopicDecision>()

function shadowOf (verdict: TopicDecision): TopicDecision {
  let s = shadows.get(verdict)
  if (s === undefined) shadows.set(verdict, s = Object.freeze({ ...verdict, allow: true, shadow: true as const }))
  return s
}
