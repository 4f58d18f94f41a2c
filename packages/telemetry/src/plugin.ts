import { performance } from 'node:perf_hooks'
import type {} from '@fastify/websocket'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import { Registry } from 'prom-client'
import {
  ChannelName, appIdentity, assertRegisteredOnce, channel, governsHttp, principalKey, refuseTruncatedHeads, revocationOrigin, type ChannelMessages,
  type Principal, type SessionOpenedMessage, type TimerHandle
} from '@wsguard/core'
import { AUDIT_SCHEMA_VERSION, auditSubject, type AuditEvent } from './audit.js'
import { auditLogger } from './audit-logger.js'
import { CappedLabel, auditAction, closeCodeLabel, codeLabel, routeLabel, visibleText } from './labels.js'
import { createMetrics, isAvailable } from './metrics.js'
import { validateOptions, type RateWindow, type TelemetryConfig, type TelemetryOptions } from './options.js'
import { DecisionTally } from './decision-tally.js'
import { StormGate, SOURCE, type Storm } from './gates.js'
import { ipKey } from './ip-key.js'
import { FailureSpikes, MINUTE_MS } from './spike.js'
import { storeContext } from './store.js'

const kStarted = Symbol('wsguard.telemetryStarted')
const MESSAGES: Record<AuditEvent['event'], string> = {
  'handshake.rejected': 'wsguard handshake.rejected',
  'session.opened': 'wsguard session.opened',
  'session.refreshed': 'wsguard session.refreshed',
  'session.refresh_failed': 'wsguard session.refresh_failed',
  'session.revoked': 'wsguard session.revoked',
  'session.closed': 'wsguard session.closed',
  'topic.denied': 'wsguard topic.denied',
  anomaly: 'wsguard anomaly'
}

type Timed = FastifyRequest & { [kStarted]: number }
type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
type AnomalyFields = Omit<Extract<AuditEvent, { event: 'anomaly' }>, 'v' | 'at' | 'event'>

/** What telemetry exposes on the instance. */
export interface WsguardTelemetry {
  readonly enabled: boolean
  /** the prom-client registry holding wsguard's metrics (undefined with `metrics: false` or `enabled: false`) */
  readonly registry: Registry | undefined
}

type Who = ReturnType<typeof auditSubject>
interface RouteTally { accepted: number /* not yet handed to prom-client */, active: number }
interface OpenSession { route: string, openedAt: number, remoteAddress: string, origin: string | undefined, principal: Principal | null, who: Who, flagged: boolean }

export async function telemetryPlugin (fastify: FastifyInstance, opts: TelemetryOptions): Promise<void> {
  assertRegisteredOnce(fastify, SOURCE, 'wsguardTelemetry')
  const validated = validateOptions(opts)
  if (validated === false) {
    fastify.decorate('wsguardTelemetry', Object.freeze({ enabled: false, registry: undefined }) satisfies WsguardTelemetry)
    return
  }
  const config: TelemetryConfig = validated
  const { clock } = config
  // An upgrade whose header lines Node cut short could hide the X-Forwarded-For a proxy
  // appended: its address (the per-IP gate's key, the audit's) would be the client's choice.
  refuseTruncatedHeads(fastify, SOURCE)
  // Accepted handshakes and open sessions change on every connection: they are plain numbers
  // per route, handed to prom-client when the registry is read.
  const tallies = new Map<string, RouteTally>()
  const tally = (route: string): RouteTally => {
    let t = tallies.get(route)
    if (t === undefined) tallies.set(route, t = { accepted: 0, active: 0 })
    return t
  }
  const probes = config.metrics === false ? [] : config.metrics.stores
  const decisions = new DecisionTally()
  const metrics = config.metrics === false
    ? undefined
    : createMetrics(config.metrics.registry ?? new Registry(), config.metrics.prefix, {
      handshakes () {
        for (const [route, t] of tallies) {
          this.inc({ route, outcome: 'accepted', code: 'none' }, t.accepted)
          t.accepted = 0
        }
      },
      activeSessions () {
        for (const [route, t] of tallies) this.set({ route }, t.active)
      },
      storeAvailable () {
        for (const [store, probe] of probes) this.set({ store }, isAvailable(probe) ? 1 : 0)
      },
      topicDecisions () {
        decisions.flush((labels, n) => { this.inc(labels, n) })
      }
    })
  // Audit lines are evidence, not operational logging (see auditLogger).
  const audit = config.audit ? auditLogger(fastify.log) : undefined
  // Open sessions are remembered only for what needs them later: their audit events and the
  // long-session check.
  const open = audit !== undefined || config.longSessionMs !== undefined ? new Map<string, OpenSession>() : undefined
  // Declared, so setting it per request keeps Fastify's request objects one shape (0: not a handshake).
  fastify.decorateRequest(kStarted, 0)
  fastify.decorate('wsguardTelemetry', Object.freeze({ enabled: true, registry: metrics?.registry }) satisfies WsguardTelemetry)

  // Events are built as one object literal each (no spreads). An open session keeps the
  // `who` it was opened (or last refreshed) with, so its later events reuse it: principals
  // are frozen and replaced, never mutated.
  function who (p: Principal | null | undefined, s?: OpenSession): Who {
    return s !== undefined && s.principal === p ? s.who : auditSubject(p)
  }
  function emit (event: Record<string, unknown> & { event: AuditEvent['event'] }): void {
    event.v = AUDIT_SCHEMA_VERSION
    event.at = clock.now()
    ;(audit as FastifyBaseLogger).info({ audit: event }, MESSAGES[event.event])
  }

  function anomaly (fields: AnomalyFields): void {
    metrics?.anomalies.inc({ kind: fields.kind })
    if (audit !== undefined) emit({ event: 'anomaly', ...fields })
  }

  // --- reconnect storms and failure spikes -----------------------------------------------
  // Counted in this process's windows and, with a store, in the store's too: the store's
  // failures are logged once per outage and each decision taken without it is counted.
  const stores = storeContext(clock, config.storeTimeoutMs, fastify.log, metrics?.counterStoreUnavailable)
  const raiseStorm = (s: Storm): void => {
    anomaly({ kind: 'reconnect-storm', scope: s.scope, key: s.key, count: s.count, limit: s.limit, throttled: config.throttle, remoteAddress: s.request.ip, who: who(s.request.principal), route: s.route })
  }
  const gate = (scope: 'ip' | 'principal', limit: RateWindow | undefined): StormGate | undefined => limit === undefined
    ? undefined
    : new StormGate({ scope, limit, maxTrackedKeys: config.maxTrackedKeys, store: config.stormStore, throttle: config.throttle, context: stores, raise: raiseStorm, started: (r) => (r as Timed)[kStarted] })
  const ipGate = gate('ip', config.perIp)
  const principalGate = gate('principal', config.perPrincipal)

  function prepend (routeOptions: RouteOptions, phase: 'onRequest' | 'preValidation' | 'preHandler' | 'onResponse', hook: Hook): void {
    const existing = routeOptions[phase] as Hook | Hook[] | undefined
    routeOptions[phase] = (existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])]) as never
  }

  // Route-level hooks on websocket routes only, each knowing its route (no routeOptions
  // getter per request). Put first in their phase: the IP gate runs before auth-handshake's
  // onRequest hook (a storm costs no signature work); the principal gate and the count of
  // accepted handshakes run in preHandler, which runs only when every check passed (the
  // signature, revocations, the handshake topic, the session cap), so only an identity that
  // would be admitted counts: a revoked or otherwise refused token cannot fill its subject's
  // window and lock the subject out.
  // A route that governs its plain HTTP requests too (config.governHttp) verifies their
  // credentials: the IP gate counts them, on the GET and on the HEAD twin Fastify adds, but
  // they are no handshakes (not timed, not published, not counted per principal).
  fastify.addHook('onRoute', (routeOptions: RouteOptions) => {
    if (routeOptions.websocket !== true && typeof routeOptions.wsHandler !== 'function') return
    const http = governsHttp(routeOptions)
    const route = routeOptions.url as string
    const ipGateHttp = http && ipGate !== undefined ? ipGate : undefined
    // The HEAD twin Fastify adds for a GET route cannot upgrade: only its governed plain requests are gated.
    if (routeOptions.method === 'HEAD') {
      if (ipGateHttp !== undefined) prepend(routeOptions, 'onRequest', ipGateFor(ipGateHttp, route))
      return
    }
    const accepted = { route, outcome: 'accepted' }
    const counts = tally(route)
    const refused = { route, outcome: 'rejected' }
    const gateHttp = ipGateHttp === undefined ? undefined : ipGateFor(ipGateHttp, route)
    prepend(routeOptions, 'onRequest', function wsguardTelemetryStart (request, reply, done) {
      if (request.ws !== true) return gateHttp === undefined ? done() : gateHttp(request, reply, done) // a plain request on a websocket route
      ;(request as Timed)[kStarted] = performance.now()
      if (ipGate === undefined) return done()
      ipGate.check(ipKey(request.ip, config.ipv6Subnet), route, request, reply, done)
    })
    if (metrics !== undefined) {
      prepend(routeOptions, 'preHandler', function wsguardTelemetryAccepted (request, _reply, done) {
        const started = (request as Timed)[kStarted]
        if (started !== 0) {
          counts.accepted++
          metrics.handshakeDuration.observe(accepted, (performance.now() - started) / 1000)
        }
        done()
      })
      prepend(routeOptions, 'onResponse', function wsguardTelemetryRefused (request, reply, done) {
        const started = (request as Timed)[kStarted]
        if (started !== 0 && reply.statusCode >= 400) metrics.handshakeDuration.observe(refused, (performance.now() - started) / 1000)
        done()
      })
    }
    if (principalGate !== undefined) {
      // Prepended after the count above, so it runs before it: a handshake it refuses is not counted accepted.
      prepend(routeOptions, 'preHandler', function wsguardTelemetryPrincipalGate (request, reply, done) {
        const p = request.principal
        if (p == null || request.ws !== true) return done() // a route without authentication, or a plain request
        // core's key, as session-expiry's cap and the Redis stores count under (unambiguous
        // whatever the issuer and subject hold; certificate names hold spaces)
        principalGate.check(principalKey(p.id, p.issuer), route, request, reply, done)
      })
    }
  })

  function ipGateFor (gate: StormGate, route: string): Hook {
    return function wsguardTelemetryHttpGate (request, reply, done) {
      if (request.ws === true) return done() // an upgrade to a HEAD route: auth-handshake refuses it with no token work
      gate.check(ipKey(request.ip, config.ipv6Subnet), route, request, reply, done)
    }
  }

  // A websocket route added before telemetry has none of the hooks above: its handshakes are
  // not timed or counted and no storm gate runs on them. Its sessions are still audited
  // (those events come from the channels), so this says so once per route, at warn, rather
  // than refusing; the plugins that guard access refuse such routes themselves.
  // Only a real websocket route counts: not the HEAD twin Fastify adds (onRoute skips it), not
  // an unmatched URL, not an upgrade sent to a plain HTTP route (request.ws is true for any
  // upgrade). @fastify/websocket 11 marks every `websocket: true` route with schema.hide; a
  // route of the `{ handler, wsHandler }` form has no such mark and is not warned about.
  const unobserved = new Set<string>()
  fastify.addHook('preHandler', function wsguardTelemetryUnobservedRoute (request, _reply, done) {
    if (request.ws === true && (request as Timed)[kStarted] === 0 && request.method !== 'HEAD') {
      const { url: route, schema } = request.routeOptions
      if (route !== undefined && (schema as { hide?: unknown } | undefined)?.hide === true && !unobserved.has(route)) {
        unobserved.add(route)
        fastify.log.warn({ route }, `${SOURCE}: websocket route ${route} was added before the plugin, so its handshakes are not timed or counted and no storm gate runs on them. Register the plugin before the route.`)
      }
    }
    done()
  })

  const spikes = config.failureSpike === undefined
    ? undefined
    : new FailureSpikes(config.failureSpike, stores, (spike) => { anomaly({ kind: 'failure-spike', ...spike }) })

  // --- long sessions -------------------------------------------------------------------------
  let longTimer: TimerHandle | undefined
  function checkLongSessions (): void {
    longTimer = undefined
    const afterMs = config.longSessionMs as number
    const now = clock.now()
    const sessions = open as Map<string, OpenSession> // there is a map whenever longSessionMs is set
    for (const [sessionId, s] of sessions) {
      if (!s.flagged && now - s.openedAt >= afterMs) {
        s.flagged = true
        anomaly({ kind: 'long-session', sessionId, route: s.route, remoteAddress: s.remoteAddress, who: s.who })
      }
    }
    if (sessions.size > 0) longTimer = clock.setTimer(checkLongSessions, Math.min(afterMs, MINUTE_MS))
  }

  // --- channels --------------------------------------------------------------------------------
  // Channels are process-wide: another Fastify app in this process publishes on them too.
  // Each message names its app; telemetry keeps to its own.
  const app = appIdentity(fastify)
  type Listener<N extends keyof ChannelMessages> = [N, (m: ChannelMessages[N]) => void]
  const listeners: Array<Listener<keyof ChannelMessages>> = []
  function on<N extends keyof ChannelMessages> (name: N, fn: (m: ChannelMessages[N]) => void): void {
    const own = (m: ChannelMessages[N]): void => { if (m.app === app) fn(m) }
    channel(name).subscribe(own as never)
    listeners.push([name, own as never])
  }

  // Audit events are built only when there is an audit logger to write them.
  const labels = { action: new CappedLabel(), reason: new CappedLabel(), by: new CappedLabel() }
  on(ChannelName.handshakeRejected, (m) => {
    metrics?.handshakes.inc({ route: routeLabel(m.route), outcome: 'rejected', code: codeLabel(m.code) })
    if (audit !== undefined) emit({ event: 'handshake.rejected', route: routeLabel(m.route), who: auditSubject(m.principal), source: m.source, code: m.code, statusCode: m.statusCode, detail: m.detail, remoteAddress: m.remoteAddress, origin: visibleText(m.origin) })
    spikes?.count(m.code, m.route)
  })
  on(ChannelName.sessionOpened, (m: SessionOpenedMessage) => {
    tally(routeLabel(m.route)).active++
    if (open === undefined) return
    const w = audit !== undefined ? auditSubject(m.principal) : undefined
    const origin = visibleText(m.origin)
    open.set(m.sessionId, { route: m.route, openedAt: m.openedAt, remoteAddress: m.remoteAddress, origin, principal: m.principal, who: w, flagged: false })
    if (audit !== undefined) emit({ event: 'session.opened', sessionId: m.sessionId, route: m.route, who: w, remoteAddress: m.remoteAddress, origin, deadline: m.deadline })
    if (config.longSessionMs !== undefined && longTimer === undefined) longTimer = clock.setTimer(checkLongSessions, Math.min(config.longSessionMs, MINUTE_MS))
  })
  on(ChannelName.sessionRefreshed, (m) => {
    metrics?.refreshes.inc({ route: routeLabel(m.route), outcome: 'success', code: 'none' })
    const s = open?.get(m.sessionId)
    const w = audit !== undefined ? auditSubject(m.principal) : undefined
    if (s !== undefined) {
      s.principal = m.principal
      s.who = w
    }
    if (audit !== undefined) emit({ event: 'session.refreshed', sessionId: m.sessionId, route: m.route, who: w, remoteAddress: s?.remoteAddress, origin: s?.origin, previousExpiresAt: m.previousExpiresAt })
  })
  on(ChannelName.sessionRefreshFailed, (m) => {
    metrics?.refreshes.inc({ route: routeLabel(m.route), outcome: 'failure', code: codeLabel(m.code) })
    const s = open?.get(m.sessionId)
    if (audit !== undefined) emit({ event: 'session.refresh_failed', sessionId: m.sessionId, route: m.route, who: who(m.principal, s), remoteAddress: s?.remoteAddress, origin: s?.origin, code: m.code })
  })
  on(ChannelName.sessionRevoked, (m) => {
    metrics?.revocations.inc({ route: routeLabel(m.route), by: labels.by.label(m.by) })
    const s = open?.get(m.sessionId)
    if (audit !== undefined) emit({ event: 'session.revoked', sessionId: m.sessionId, route: m.route, who: who(m.principal, s), remoteAddress: s?.remoteAddress, origin: s?.origin, by: m.by, revocation: revocationOrigin(m.revocation) })
  })
  on(ChannelName.sessionClosed, (m) => {
    const durationMs = m.closedAt - m.openedAt
    const route = routeLabel(m.route)
    tally(route).active--
    // A client chooses its close code (1000-4999): only the ones wsguard or the standard knows are labels.
    metrics?.sessionDuration.observe({ route, code: closeCodeLabel(m.closeCode, m.closedBy) }, durationMs / 1000)
    if (open === undefined) return
    const s = open.get(m.sessionId)
    if (audit !== undefined) emit({ event: 'session.closed', sessionId: m.sessionId, route: m.route, who: who(m.principal, s), remoteAddress: s?.remoteAddress, origin: s?.origin, code: m.closeCode, closedBy: m.closedBy, reason: visibleText(m.reason), openedAt: m.openedAt, durationMs, framesIn: m.framesIn, framesOut: m.framesOut, revocation: revocationOrigin(m.revocation) })
    open.delete(m.sessionId)
  })
  on(ChannelName.topicDecision, (m) => {
    if (metrics !== undefined) decisions.count(routeLabel(m.route), labels.action.label(m.action), m.allow, labels.reason.label(m.reason ?? 'none'), m.shadow)
    if (!m.allow && audit !== undefined) {
      emit({ event: 'topic.denied', route: m.route, who: auditSubject(m.principal), sessionId: m.sessionId, remoteAddress: m.remoteAddress, action: auditAction(m.action), topic: visibleText(m.topic), reason: m.reason as string, rule: m.rule, shadow: m.shadow })
    }
  })

  if (metrics !== undefined && config.metrics !== false && config.metrics.path !== false) {
    const registry = metrics.registry
    fastify.get(config.metrics.path, async (_request, reply) => {
      reply.type(registry.contentType)
      return await registry.metrics()
    })
  }

  fastify.addHook('onClose', (_instance, done) => {
    // Sessions are closed by session-expiry's shutdown, which runs before this hook, so
    // every session.opened has had its session.closed by now.
    for (const [name, fn] of listeners) channel(name).unsubscribe(fn as never)
    if (longTimer !== undefined) clock.clearTimer(longTimer)
    spikes?.stop()
    done()
  })
}
