import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { PrincipalSchema, requestHeadTruncated, sendRejection, type Principal, type WsguardErrorCode } from '@wsguard/core'
import type { Fault, TokenAuthenticator } from './authenticator.js'
import { bounded } from './bounded.js'
import { bearerHeader } from './carriers.js'
import { bindToken, type CertificateState } from './identity.js'
import type { IssuerConfig } from './issuer-options.js'
import type { AuthHandshakeConfig } from './options.js'
import { checkScopes, type RouteMethod } from './route-rules.js'
import type { TicketConfig } from './ticket-options.js'
import { MAX_QUOTA_PRINCIPALS, type TicketQuota } from './ticket-quota.js'
import type { TicketRoutes } from './ticket-routes.js'
import { newTicket, ticketId } from './tickets.js'
import { ThrottledWarning } from './warn-throttle.js'
import type { Challenges } from './www-authenticate.js'

const JSON_TYPE = 'application/json'
/** The body is `{ "path": "…" }`: a path of at most 2 KB, and room for the rest. */
const BODY_LIMIT_BYTES = 4096
/** What the catch-all parser leaves for a body that is not JSON. */
const NOT_JSON = Symbol('not JSON')
// A token presented for a ticket is checked as on a `jwt` route: its certificate binding, if any.
const TOKEN_METHODS: ReadonlySet<RouteMethod> = new Set(['jwt'])
const isPrincipal = TypeCompiler.Compile(PrincipalSchema)

/** What the ticket endpoint needs of the plugin, built once. */
export interface TicketEndpointContext {
  readonly config: AuthHandshakeConfig
  readonly tickets: TicketConfig
  readonly authenticator: TokenAuthenticator
  readonly challenges: Challenges
  readonly routes: TicketRoutes
  /** the request's client certificate, for a certificate-bound token */
  readonly certificateOf: (request: FastifyRequest) => CertificateState
  /** issuers whose tokens must be certificate-bound */
  readonly bound: ReadonlySet<string>
  /** each principal's unused tickets, shared with the handshake that redeems them */
  readonly quota: TicketQuota
  /** the ticket store's failures, said once per 30 s (shared with the handshake) */
  readonly warning: ThrottledWarning
}

/** Who asks; `until`: when the token asked with stops being accepted for its age (`maxTokenAgeMs`). */
type Who = { principal: Principal, until?: number } | { code: WsguardErrorCode, fault?: Fault }

/**
 * `POST <tickets.path>` with `{ "path": "/feed" }`: a one-time ticket for that websocket path,
 * bound to the caller (a Bearer token verified as at the handshake, or the app's session through
 * `principalFor`) and to the request's Origin. Answered `{ ticket, expiresAt }`, never cached.
 */
export async function registerTicketEndpoint (fastify: FastifyInstance, context: TicketEndpointContext): Promise<void> {
  // Its own context: its body parsers, error handler and headers stay off the app's routes.
  // Its own throttle: a full quota said once must not mute the store's failures for 30 s.
  const quotaWarning = new ThrottledWarning(context.config.clock, fastify.log)
  await fastify.register(async function wsguardTicketEndpoint (endpoint) {
    endpoint.removeAllContentTypeParsers()
    endpoint.addContentTypeParser(JSON_TYPE, { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string))
      } catch {
        done(null, NOT_JSON)
      }
    })
    endpoint.addContentTypeParser('*', (_req, _payload, done) => { done(null, NOT_JSON) })
    // Every answer, refusals included: a ticket is a credential, and no cache may keep one.
    endpoint.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })
    // A head Node may have cut short could hide a second Authorization (T61) past its limit:
    // refused as an upgrade would be (T96), before anything reads a header.
    endpoint.addHook('onRequest', async (request, reply) => {
      if (requestHeadTruncated(request)) return answer(reply, 'WSG_BAD_REQUEST')
    })
    // What Fastify refuses before the handler (a body past the limit, a bad length) is a bad
    // request; anything else is a failure, never a ticket.
    endpoint.setErrorHandler((err: FastifyError, request, reply) => {
      const status = err.statusCode ?? 500
      if (status >= 400 && status < 500) return answer(reply, 'WSG_TICKET_REQUEST_INVALID')
      request.log.error({ err }, 'wsguard: ticket request failed')
      return answer(reply, 'WSG_UNAVAILABLE')
    })
    endpoint.post(context.tickets.path, (request, reply) => issue(context, quotaWarning, request, reply))
  })
}

function answer (reply: FastifyReply, code: WsguardErrorCode, headers?: Record<string, string>): FastifyReply {
  sendRejection(reply, code, headers)
  return reply
}

async function issue (context: TicketEndpointContext, quotaWarning: ThrottledWarning, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { config, tickets, challenges } = context
  const origin = request.headers.origin
  if (origin === undefined ? config.requireOrigin : (config.allowedOrigins !== undefined && !config.allowedOrigins(origin))) {
    return answer(reply, 'WSG_ORIGIN_DENIED')
  }
  const who = await identify(context, request)
  if ('code' in who) return answer(reply, who.code, challenges.headers(who.code, who.fault))
  const { principal, until = Number.POSITIVE_INFINITY } = who

  const body = request.body as Record<string, unknown> | typeof NOT_JSON | undefined
  const path = typeof body === 'object' && body !== null && !Array.isArray(body) && Object.hasOwn(body, 'path') ? body.path : undefined
  const rules = context.routes.find(path)
  if (rules === undefined) return answer(reply, 'WSG_TICKET_REQUEST_INVALID')
  // Told now rather than at the handshake: a ticket the route's scope rules refuse is no use.
  const scopeFault = checkScopes(principal.scopes, rules)
  if (scopeFault !== undefined) return answer(reply, scopeFault, challenges.headers(scopeFault, undefined, rules.requiredText))

  const now = config.clock.now()
  // A ticket never outlives the credential it was issued for: its exp, nor its age limit.
  // Whole milliseconds, rounded down (an `exp` may have a fraction): a store keeps it with a TTL
  // in whole ms (Redis's PX), and the ticket must not outlive its token.
  const expiresAt = Math.floor(Math.min(now + tickets.ttlMs, principal.expiresAt ?? Number.POSITIVE_INFINITY, until))
  if (expiresAt <= now) return answer(reply, 'WSG_TOKEN_EXPIRED', challenges.headers('WSG_TOKEN_EXPIRED', 'expired'))
  const quota = context.quota.take(principal, expiresAt)
  if (quota === 'full') {
    quotaWarning.warn(`the ticket quota tracks ${MAX_QUOTA_PRINCIPALS} principals holding unused tickets; ticket requests of others are refused (503) until some expire`)
    return answer(reply, 'WSG_UNAVAILABLE', challenges.headers('WSG_UNAVAILABLE'))
  }
  if (quota !== 'ok') return answer(reply, 'WSG_RATE_LIMITED', { 'retry-after': String(Math.max(1, Math.ceil(quota / 1000))) })
  const ticket = newTicket()
  const record = { principal, path: path as string, origin: origin ?? null, expiresAt }
  try {
    await bounded(() => tickets.store.issue(ticketId(ticket), record, expiresAt - now), tickets.storeTimeoutMs, 'ticket store')
  } catch (err) {
    // Not issued: it does not count against the principal.
    context.quota.release(principal, expiresAt)
    context.warning.warn('the ticket store failed; ticket requests and handshakes with tickets are refused (503)', err)
    return answer(reply, 'WSG_UNAVAILABLE', challenges.headers('WSG_UNAVAILABLE'))
  }
  return reply.code(200).header('content-type', `${JSON_TYPE}; charset=utf-8`).send(JSON.stringify({ ticket, expiresAt }))
}

/**
 * When a handshake would start refusing the token behind a principal as too old: its `iat`
 * plus its issuer's `maxTokenAgeMs` and clock tolerance (the verifier refused a token without
 * `iat` where that is set). `undefined` for an issuer with no age limit.
 */
function ageLimit (principal: Principal, config: AuthHandshakeConfig): number | undefined {
  const issuer = config.issuers.find((i) => i.issuer === principal.issuer) as IssuerConfig
  if (issuer.maxTokenAgeMs === undefined) return undefined
  return (principal.claims.iat as number) * 1000 + issuer.maxTokenAgeMs + issuer.clockToleranceMs
}

/** Who asks: the Bearer token's principal, else the app's session's (`principalFor`). */
async function identify (context: TicketEndpointContext, request: FastifyRequest): Promise<Who> {
  const { config, tickets, authenticator } = context
  const header = bearerHeader(request.headers, request.raw.rawHeaders)
  if (typeof header === 'string') return { code: header }
  if (header !== undefined) {
    const outcome = await authenticator.authenticate(header.token, request)
    if (!outcome.ok) return { code: outcome.code, fault: outcome.fault }
    const { principal } = outcome
    const bound = bindToken(principal, () => context.certificateOf(request), config.mtls, TOKEN_METHODS, context.bound.has(principal.issuer as string))
    return typeof bound === 'string' ? { code: bound } : { principal: bound, until: ageLimit(bound, config) }
  }
  if (tickets.principalFor === undefined) return { code: 'WSG_CREDENTIAL_MISSING' }
  const principal = await tickets.principalFor(request)
  if (principal === null) return { code: 'WSG_CREDENTIAL_MISSING' }
  if (!isPrincipal.Check(principal)) throw new TypeError('opts.tickets.principalFor returned something that is neither a Principal nor null')
  // A copy: the ticket stands for the principal as it was when asked for, whatever the app does with its object.
  return { principal: structuredClone(principal) }
}
