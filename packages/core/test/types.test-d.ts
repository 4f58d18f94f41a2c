// Type tests, checked by the root `tsc` (typecheck); never run.
import Fastify from 'fastify'
import { appIdentity, ChannelName, channel, principalOf, refuseUngovernedRoutes, requestOf, sessionOf, type AppIdentity, type UngovernedRouteGuard } from '../src/index.js'

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

export { early, vague, silent, forged }

// From a raw request (tRPC's createContext, ws's verifyClient): the principal, or null.
declare const raw: import('node:http').IncomingMessage
const who: import('../src/index.js').Principal | null = principalOf(raw)
const request: import('fastify').FastifyRequest | undefined = requestOf(raw)
// The session: typed by session-expiry's types where they are loaded (its own type test says which).
const session: unknown = sessionOf(raw)
// @ts-expect-error principalOf takes the raw request, not a string
principalOf('alice')
// @ts-expect-error config.governHttp is a boolean
app.get('/x', { config: { governHttp: 'yes' } }, async () => 'ok')
app.get('/y', { config: { governHttp: true } }, async () => 'ok')

export { who, request, session }
