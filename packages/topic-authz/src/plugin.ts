import { performance } from 'node:perf_hooks'
import type {} from '@fastify/websocket'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import { ChannelName, addHandshakeCheck, appIdentity, assertRegisteredOnce, channel, governsHttp, publishRejection, refuseLostRouteState, refuseUngovernedRoutes, sendRejection, type Principal } from '@wsguard/core'
import { decorateAddress, rememberAddress } from './address.js'
import { DecisionCache } from './cache.js'
import { Decider, type RoutePolicy } from './decider.js'
import { compileHandshakeTopics, type CompiledHandshakeTopic } from './handshake-topic.js'
import { validateOptions, type TopicAuthzOptions } from './options.js'
import { RuleSet, type TopicDecision } from './policy.js'
import { compileRules, type StepUp } from './rules.js'

export const SOURCE = '@wsguard/topic-authz'

const rejected = channel(ChannelName.handshakeRejected)
const kPolicy = Symbol('wsguard.topicPolicy')
const kState = Symbol('wsguard.topicState')
const kAdmittedTo = Symbol('wsguard.handshakeTopicsAdmitted')

interface ConnectionState {
  readonly policy: RoutePolicy
  readonly cache: DecisionCache | undefined
}

type RequestWithState = FastifyRequest & { [kState]: ConnectionState | null }

/**
 * The topics a handshake was admitted to, one per handshake topic: its segments, or
 * `undefined` where a placeholder did not resolve (admitted only in shadow mode).
 */
type AdmittedTopics = ReadonlyArray<readonly string[] | undefined>

type RequestWithTopics = FastifyRequest & { [kAdmittedTo]: AdmittedTopics | null }

/** A refresh on a request whose handshake this plugin never admitted (a check run before the upgrade's hooks). */
const NOT_ADMITTED: TopicDecision = Object.freeze({ allow: false, reason: 'invalid-topic' })
/** A refresh whose principal resolves a handshake topic to another topic than the socket's. */
const OTHER_TOPIC: TopicDecision = Object.freeze({ allow: false, reason: 'claim-mismatch' })

/** What topic-authz exposes on the instance. */
export interface TopicAuthz {
  /**
   * Decides for code that holds no request. `route` is a websocket route's URL pattern
   * (`'/ws/orders/:tenant'`) to use its `config.topics` too; without it, app-wide rules only.
   * Throws a `TypeError` for a route that has no topic rules. No decision cache.
   */
  authorize(principal: Principal | null, action: string, topic: string, route?: string): TopicDecision
  readonly mode: 'enforce' | 'shadow'
}

export async function topicAuthzPlugin (fastify: FastifyInstance, opts: TopicAuthzOptions): Promise<void> {
  assertRegisteredOnce(fastify, SOURCE, 'topicAuthz')
  const config = validateOptions(opts)
  const ctx = { actions: config.actions, maxSegments: config.maxSegments }
  const appRules = compileRules(config.policies, 0, 'opts.policies', ctx)
  const appSet = new RuleSet(appRules)
  const appPolicy: RoutePolicy = Object.freeze({ route: undefined, sets: [appSet] })
  const routePolicies = new Map<string, RoutePolicy>()
  const decider = new Decider(config, appIdentity(fastify))

  fastify.decorateRequest(kState, null)
  // The positive mark of a handshake whose topics this plugin allowed (see
  // refuseUngovernedRoutes): the topics it admitted, never the default null (or undefined, in a
  // context created before the decorator).
  fastify.decorateRequest(kAdmittedTo, null)
  decorateAddress(fastify)
  fastify.decorateRequest('authorizeTopic', function authorizeTopic (this: FastifyRequest, action: string, topic: string): TopicDecision {
    const state = stateOf(this as RequestWithState, config.decisionCacheSize, appPolicy)
    return decider.decide(state.policy, this.principal ?? null, action, topic, state.cache, this.log, this)
  })
  fastify.decorate('topicAuthz', Object.freeze({
    mode: config.mode,
    authorize (principal: Principal | null, action: string, topic: string, route?: string): TopicDecision {
      let policy = appPolicy
      if (route !== undefined) {
        const found = routePolicies.get(route)
        if (found === undefined) throw new TypeError(`${SOURCE}: no websocket route '${String(route)}' has config.topics or config.handshakeTopic`)
        policy = found
      }
      return decider.decide(policy, principal ?? null, action, topic, undefined, fastify.log)
    }
  }) satisfies TopicAuthz)

  // After every route's preValidation, a route with a handshake topic has admitted (marked)
  // its handshake; other routes are exempt unless they carry topic config that onRoute never
  // compiled. Never `kState !== null`: in a context created before the decorator, it reads undefined.
  // Routes found without their compiled policy (see makeHandshakeHook), logged once each.
  const lostPolicies = new Set<string>()
  refuseUngovernedRoutes(fastify, {
    source: SOURCE,
    phase: 'preHandler',
    handled: (request) => Array.isArray((request as RequestWithTopics)[kAdmittedTo]),
    // A route with a handshake topic is never exempt: its handshake hook must have admitted
    // (marked) the request, whatever else its config says. Compiled (kPolicy) exempts only a
    // route of in-band topics: an app's onRoute hook that replaced preValidation would otherwise
    // have taken the handshake topic's check away unseen (Z33).
    exempt: (routeConfig) => routeConfig?.handshakeTopic === undefined && (routeConfig?.topics === undefined || routeConfig[kPolicy] !== undefined),
    // Not an opt-out: a route without topic config has nothing for this plugin, wherever it was added.
    exemptUnseen: true,
    consequence: 'its config.topics and config.handshakeTopic were never read'
  })

  fastify.addHook('onRoute', (routeOptions: RouteOptions) => {
    if (routeOptions.websocket !== true && typeof routeOptions.wsHandler !== 'function') return
    // Every websocket route, with topic config or not: request.authorizeTopic works on all of them.
    routeOptions.preValidation = [rememberAddress, ...hooksOf(routeOptions.preValidation)]
    const http = governsHttp(routeOptions)
    const routeConfig = routeOptions.config as { topics?: unknown, handshakeTopic?: unknown } | undefined
    if (routeConfig?.topics === undefined && routeConfig?.handshakeTopic === undefined) return
    const url = routeOptions.url
    const path = `route ${String(routeOptions.method)} ${url}: config`
    const own = routeConfig.topics === undefined ? [] : compileRules(routeConfig.topics, appRules.length, `${path}.topics`, ctx)
    const policy: RoutePolicy = Object.freeze({ route: url, sets: own.length === 0 ? [appSet] : [appSet, new RuleSet(own)] })
    const handshake = routeConfig.handshakeTopic === undefined
      ? undefined
      : compileHandshakeTopics(routeConfig.handshakeTopic, `${path}.handshakeTopic`, url, config.actions, config.maxSegments)
    routePolicies.set(url, policy)
    // Fastify copies config (symbol keys included) into the route's context.
    routeOptions.config = { ...routeConfig, [kPolicy]: policy } as RouteOptions['config']
    if (handshake !== undefined) {
      const check = makeTopicCheck(decider, policy, handshake)
      // An in-band refresh must pass the handshake topics too (core's handshake checks), as
      // they were resolved when the socket was admitted (see recheck).
      addHandshakeCheck(routeOptions, { source: SOURCE, check: (request, principal) => (check.recheck(request, principal) === undefined ? undefined : 'WSG_TOPIC_DENIED') })
      // preValidation runs after every onRequest hook (auth-handshake's included) and
      // before the websocket handler upgrades, whatever order the plugins were registered in.
      routeOptions.preValidation = [...routeOptions.preValidation, makeHandshakeHook(check, url, http, lostPolicies)]
    }
  })
}

/** The connection's policy and decision cache, made on its first decision. */
function stateOf (request: RequestWithState, cacheSize: number, fallback: RoutePolicy): ConnectionState {
  let state = request[kState]
  if (state === null) {
    const routeConfig = request.routeOptions.config as { [kPolicy]?: RoutePolicy } | undefined
    state = request[kState] = {
      policy: routeConfig?.[kPolicy] ?? fallback,
      cache: cacheSize === 0 ? undefined : new DecisionCache(cacheSize)
    }
  }
  return state
}

/** RFC 9470 step-up challenge for a handshake topic denied as `stale-auth`. */
function stepUpChallenge (stepUp: StepUp): Record<string, string> {
  let value = 'Bearer error="insufficient_user_authentication", error_description="A more recent or stronger authentication is required"'
  if (stepUp.maxAuthAgeMs !== undefined) value += `, max_age="${Math.floor(stepUp.maxAuthAgeMs / 1000)}"`
  if (stepUp.acr !== undefined) value += `, acr_values="${stepUp.acr.join(' ')}"`
  return { 'www-authenticate': value }
}

interface TopicCheck {
  /**
   * At the handshake: each topic resolved from the request and `principal`, then decided.
   * The first denial, or the topics the socket is admitted to.
   */
  admit(request: FastifyRequest, principal: Principal | null): TopicDecision | AdmittedTopics
  /**
   * At an in-band refresh: the first of the topics the socket was admitted to that the new
   * principal may not hold, or `undefined` when it may hold them all. Decided on the topic
   * the handshake resolved, never on one resolved from the new principal; and a principal
   * whose own claims resolve the template to another topic is refused `claim-mismatch`: a
   * same-subject token of tenant globex, on a socket admitted to `tenant.{claims.tenant}.feed`
   * as `tenant.acme.feed`, could never have been admitted to it at a handshake.
   */
  recheck(request: FastifyRequest, principal: Principal): TopicDecision | undefined
}

function makeTopicCheck (decider: Decider, policy: RoutePolicy, topics: readonly CompiledHandshakeTopic[]): TopicCheck {
  function decideOne (request: FastifyRequest, principal: Principal | null, t: CompiledHandshakeTopic, segments: readonly string[] | undefined): TopicDecision {
    const topic = segments === undefined ? t.template : segments.join('.')
    // Not through the connection's decision cache: most connections never ask in-band, and a
    // cache made here would live (about 1 KiB) for as long as the socket does. Its segments
    // were checked one by one as they were resolved: not split and checked again.
    return decider.decide(policy, principal, t.action, topic, undefined, request.log, request, segments ?? false)
  }
  return {
    admit (request, principal) {
      // Kept for the socket's life (a refresh is decided on it): sized once, since an array
      // grown by push keeps room for 17 entries. With the segments' array (handshake-topic.ts),
      // 233 bytes a socket (bench sessions.ts, session 31).
      const resolved = new Array<readonly string[] | undefined>(topics.length)
      for (let k = 0; k < topics.length; k++) {
        const t = topics[k] as CompiledHandshakeTopic
        const segments = t.resolve(request.params, principal)
        const decision = decideOne(request, principal, t, segments)
        if (!decision.allow) return decision
        resolved[k] = segments
      }
      return resolved
    },
    recheck (request, principal) {
      const admittedTo = (request as RequestWithTopics)[kAdmittedTo]
      // Fails closed: a check run on a request this plugin never admitted has no topic to keep
      // (`undefined` too: a decorator read in a context created before it).
      if (admittedTo == null) return NOT_ADMITTED
      for (let k = 0; k < topics.length; k++) {
        const t = topics[k] as CompiledHandshakeTopic
        const kept = admittedTo[k]
        if (kept !== undefined && !sameSegments(t.resolve(request.params, principal), kept)) {
          const refused = decider.refuse(policy, principal, t.action, kept.join('.'), OTHER_TOPIC, request)
          // In shadow mode an allow: published once, then not decided again on the policy.
          if (!refused.allow) return refused
          continue
        }
        const decision = decideOne(request, principal, t, kept)
        if (!decision.allow) return decision
      }
      return undefined
    }
  }
}

function sameSegments (a: readonly string[] | undefined, b: readonly string[]): boolean {
  // Both resolved from one template: as many segments each.
  if (a === undefined) return false
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false
  return true
}

function makeHandshakeHook (check: TopicCheck, route: string, http: boolean, lost: Set<string>) {
  return function wsguardHandshakeTopic (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    // Not an upgrade (a plain GET, or the HTTP side of a { handler, wsHandler } route): no
    // handshake to check, unless the route asked for its HTTP requests to be governed.
    const upgrade = request.ws === true
    if (!upgrade && !http) return done()
    const started = rejected.hasSubscribers ? performance.now() : 0
    const principal = request.principal ?? null
    // The route's compiled policy and its refresh check live on its config: a later onRoute
    // hook that replaced config without its symbol keys took both away, and a refresh would
    // skip the handshake topic, and in-band decisions would lose the route's own rules (Z33).
    // Fails closed.
    if ((request.routeOptions.config as { [kPolicy]?: RoutePolicy } | undefined)?.[kPolicy] === undefined) {
      return refuseLostRouteState(request, reply, { source: SOURCE, route, what: 'its compiled topic policy', said: lost, started, principal })
    }
    const outcome = check.admit(request, principal)
    if (!Array.isArray(outcome)) {
      const denied = outcome as TopicDecision
      sendRejection(reply, 'WSG_TOPIC_DENIED', denied.reason === 'stale-auth' ? stepUpChallenge(denied.stepUp as StepUp) : undefined)
      // A plain HTTP request is answered alike, but is no handshake to count.
      if (upgrade) publishRejection(SOURCE, request, route, 'WSG_TOPIC_DENIED', started, denied.reason, principal)
      return
    }
    const kept = request as RequestWithTopics
    kept[kAdmittedTo] = outcome
    done()
  }
}

function hooksOf<H> (existing: H | H[] | undefined): H[] {
  return existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]
}
