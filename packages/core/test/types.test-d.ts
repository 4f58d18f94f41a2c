// Type tests, checked by the root `tsc` (typecheck); never run.
import Fastify from 'fastify'
import {
  appIdentity, ChannelName, channel, refuseUngovernedRoutes, type AppIdentity, type Revocation, type UngovernedRouteGuard, type WindowCounter,
  type WindowCounts
} from '../src/index.js'

const app = Fastify()
const guard: UngovernedRouteGuard = {
  source: '@wsguard/example',
  phase: 'preHandler',
  handled: (request) => request.principal !== null,
  exempt: (routeConfig) => routeConfig?.auth === false,
  consequence: 'it has no authentication',
  optOut: 'config.auth: false'
}
refuseUngovernedRoutes(app, guard)
refuseUngovernedRoutes(app, { ...guard, phase: 'preValidation', optOut: undefined })

// @ts-expect-error the guard runs after the route hooks it checks: not in onRequest
const early: UngovernedRouteGuard = { ...guard, phase: 'onRequest' }
// @ts-expect-error handled answers a boolean
const vague: UngovernedRouteGuard = { ...guard, handled: () => 'yes' }
// @ts-expect-error the words for the log line are required
const silent: UngovernedRouteGuard = { source: 'x', phase: 'preHandler', handled: () => true, exempt: () => false }

// One identity per app, from any of its contexts; every message carries its app's.
const mine: AppIdentity = appIdentity(app)
channel(ChannelName.sessionClosed).subscribe((m) => { if (m.app === mine) console.log(m.sessionId) })
// @ts-expect-error an identity is only ever compared, never built by hand from a string
const forged: AppIdentity = 'my-app'
// @ts-expect-error a message without its app is not a message
channel(ChannelName.topicDecision).publish({ action: 'subscribe', allow: true, shadow: false, principal: null, topic: 'a' })

// A revocation may say where it came from; a counter answers counts, nothing (fail-open) or a rejection.
const withOrigin: Revocation = { filter: { subject: 'a' }, at: 0, until: 1, origin: { instance: 'api-1', actor: 'admin', reason: 'offboarded' } }
const withoutOrigin: Revocation = { filter: { subject: 'a' }, at: 0, until: 1 }
// @ts-expect-error an origin's fields are strings
const badOrigin: Revocation = { filter: { subject: 'a' }, at: 0, until: 1, origin: { instance: 1 } }
const counter: WindowCounter = { hit: async (_key, windowMs, now, amount = 1) => ({ current: amount, previous: 0, start: now - (now % windowMs), elapsedMs: now % windowMs }) }
const failOpen: WindowCounter = { hit: () => undefined }
// @ts-expect-error a counter answers counts, not a number
const badCounter: WindowCounter = { hit: () => 1 }
const counts: WindowCounts | undefined | Promise<WindowCounts | undefined> = counter.hit('ip 10.0.0.1', 60_000, Date.now())

export { early, vague, silent, forged, withOrigin, withoutOrigin, badOrigin, failOpen, badCounter, counts }
