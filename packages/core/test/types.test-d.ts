// Type tests, checked by the root `tsc` (typecheck); never run.
import Fastify from 'fastify'
import {
  asNativePromise, callEach, MAX_TIMER_DELAY_MS, timerDelay,
  appIdentity, assertRegisteredOnce, principalKey, STORE_UNAVAILABLE_HEADERS, STORE_UNAVAILABLE_RETRY_AFTER_S, ChannelName, channel, deliverRejectionsWith, principalOf, refusalCloseCode, refuseUngovernedRoutes, refuseTruncatedHeads, headTruncated, requestMark, requestOf, requirePrincipal, sessionOf,
  type AppIdentity, type Principal, type RequestMark, type ReplayStore, type TicketRecord, type TicketStore, type Revocation, type SessionFilter, type UngovernedRouteGuard, type WindowCounter,
  type WindowCounts, type WsguardClaims
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
refuseUngovernedRoutes(app, { ...guard, exempt: (routeConfig) => routeConfig?.topics === undefined, exemptUnseen: true })
// @ts-expect-error exemptUnseen is a boolean
refuseUngovernedRoutes(app, { ...guard, exemptUnseen: 'yes' })

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

// request.principal tells the truth: null on opted-out and plain HTTP routes, so it must be narrowed.
app.get('/who', async (request) => {
  // @ts-expect-error request.principal may be null
  const unchecked: string = request.principal.id
  const checked: string | undefined = request.principal?.id
  const sure: Principal = requirePrincipal(request)
  const claims: Readonly<WsguardClaims> = sure.claims
  return { unchecked, checked, sure: sure.id, claims }
})
// @ts-expect-error requirePrincipal reads a request, nothing else
requirePrincipal({ principal: null })

// A second registration is refused by the plugin, naming itself and the decorator that tells it.
app.register(async (instance) => { assertRegisteredOnce(instance, '@wsguard/example', 'wsguardExample') })
// @ts-expect-error the plugin's name is required
assertRegisteredOnce(app, 'wsguardExample')
// A replay store answers whether an id is used for the first time, at once or later.
const replays: ReplayStore = { claim: (id, until) => id.length > 0 && until > 0, release: () => {} }
const sharedReplays: ReplayStore = { claim: async () => true, release: async () => {} }
// @ts-expect-error claim answers a boolean: "seen before?" must not be a truthy string
const vagueReplays: ReplayStore = { claim: () => 'first', release: () => {} }
// @ts-expect-error release is required: a claim whose action failed must be undone
const noRelease: ReplayStore = { claim: () => true }

// A session or subject revocation may be narrowed to one issuer.
const bySession: SessionFilter = { sessionId: 'sid-1', issuer: 'https://idp.example' }
// @ts-expect-error the issuer is a string
const badIssuer: SessionFilter = { sessionId: 'sid-1', issuer: 1 }
export { replays, sharedReplays, vagueReplays, noRelease, bySession, badIssuer }
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

const retryAfterS: number = STORE_UNAVAILABLE_RETRY_AFTER_S
// @ts-expect-error the headers of a 503 are read-only
STORE_UNAVAILABLE_HEADERS['retry-after'] = '1'

export { who, request, session, retryAfterS }

// A ticket store keeps a record under a ticket's digest and hands it out once, at once or later.
declare const principal: Principal
const record: TicketRecord = { principal, path: '/feed', origin: null, expiresAt: Date.now() + 30_000 }
const tickets: TicketStore = { issue: () => {}, consume: () => record }
const sharedTickets: TicketStore = { issue: async () => {}, consume: async () => undefined }
// @ts-expect-error consume answers the record or undefined, never a bare boolean
const yesTickets: TicketStore = { issue: () => {}, consume: () => true }
// @ts-expect-error a record without an Origin says so with null
const noOrigin: TicketRecord = { principal, path: '/feed', expiresAt: 1 }
// A refusal may be delivered otherwise than in HTTP, with its close code.
deliverRejectionsWith(raw, (code, closeCode: number) => { console.log(code, closeCode) })
const closeCode: number = refusalCloseCode('WSG_TICKET_INVALID')
// @ts-expect-error a code of the catalogue
refusalCloseCode('WSG_NOPE')
const key: string = principalKey('alice', undefined)
// @ts-expect-error the subject is a string
principalKey(42, 'https://idp.test')
callEach<number>([(n) => { n.toFixed(0) }], 1)
// @ts-expect-error the value is what the listeners take
callEach<number>([(n) => { n.toFixed(0) }], 'one')
export { tickets, sharedTickets, yesTickets, noOrigin, closeCode, key }

// A plugin's positive mark on the requests it admitted.
const mark: RequestMark = requestMark(app, '@wsguard/example.admitted')
app.addHook('onRequest', async (req) => { mark.set(req) })
declare const admittedRequest: import('fastify').FastifyRequest
const marked: boolean = mark.has(admittedRequest)
export { marked }
// @ts-expect-error a mark is set on a Fastify request, not a raw one
mark.set(raw)
// @ts-expect-error its description is a string
requestMark(app, Symbol('x'))

// The guard against header lines Node dropped: installed by a plugin; the check on its own.
refuseTruncatedHeads(app, '@wsguard/example')
const cut: boolean = headTruncated(raw, app.server)
export { cut }
// @ts-expect-error the source is the plugin's name
refuseTruncatedHeads(app)

// Timeouts a Node timer can keep.
const longest: number = MAX_TIMER_DELAY_MS
const checked: number = timerDelay(2_000, 'opts.revocationTimeoutMs')
export { longest, checked }
// @ts-expect-error the value is a number of ms, already checked as one
timerDelay('2000', 'opts.x')

// A store's answer: a value, or a native promise of it.
declare const bluebird: PromiseLike<boolean>
const answered: boolean | Promise<boolean> = asNativePromise(bluebird)
const plain: number | Promise<number> = asNativePromise(3)
export { answered, plain }
