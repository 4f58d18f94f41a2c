import { performance } from 'node:perf_hooks'
import type {} from '@fastify/websocket'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import {
  ChannelName, addHandshakeCheck, appIdentity, requestMark, type RequestMark, assertRegisteredOnce, channel, deliverRejectionsWith, governsHttp, linkRequest, publishedOrigin, publishRejection,
  refuseLostRouteState, refuseTruncatedHeads, refuseUngovernedRoutes, sendRejection, type AppIdentity, type Principal, type WsguardAuth, type WsguardErrorCode, type AuthOutcome as CoreAuthOutcome
} from '@wsguard/core'
import { TokenAuthenticator, type AuthOutcome, type Fault } from './authenticator.js'
import { closeDelivery, refusalServer, type CloseDeliveryContext } from './browser-rejection.js'
import { findCredential, stripCredentialProtocols, type Found } from './carriers.js'
import { redactingReqSerializer } from './log.js'
import { TICKET_PROTOCOL_PREFIX, TICKET_QUERY_PARAMETER, validateOptions, type AuthHandshakeConfig, type AuthHandshakeOptions } from './options.js'
import { registerTicketEndpoint } from './ticket-endpoint.js'
import { TicketRedeemer } from './ticket-redeem.js'
import { TicketQuota } from './ticket-quota.js'
import { ThrottledWarning } from './warn-throttle.js'
import { TicketRoutes } from './ticket-routes.js'
import { checkScopes, compileRouteRules, type RouteMethod, type RouteRules } from './route-rules.js'
import { readClientCertificate, readForwardedCertificate, type MtlsConfig } from './mtls.js'
import { bindToken, certificatePrincipal, type CertificateState } from './identity.js'
import { Challenges } from './www-authenticate.js'

export const SOURCE = '@wsguard/auth-handshake'

const kRouteRules = Symbol('wsguard.routeAuthRules')
// @fastify/websocket's injectWS builds a request without rawHeaders; its headers are a plain
// object, which holds one value per name, so there is no duplicate to find.
const NO_RAW_HEADERS: readonly string[] = []
const authenticated = channel(ChannelName.handshakeAuthenticated)
const rejected = channel(ChannelName.handshakeRejected)
// A ticket's principal, and a refresh on a route that takes tickets, are checked as on a `jwt`
// route: the token's certificate binding, if it has one.
const TOKEN_METHODS: ReadonlySet<RouteMethod> = new Set(['jwt'])
/** The methods whose credential is a token (a route with none of them takes no bearer token). */
const TOKEN_OR_CERTIFICATE: readonly RouteMethod[] = ['jwt', 'jwt+mtls', 'mtls']

type OnRequest = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

export async function authHandshakePlugin (fastify: FastifyInstance, opts: AuthHandshakeOptions): Promise<void> {
  assertRegisteredOnce(fastify, SOURCE, 'wsguardAuth')
  const config = validateOptions(opts)
  const authenticator = new TokenAuthenticator(config, fastify.log, fastify)
  // Before any carrier or certificate header is read: Node may have dropped header lines past
  // its limit, a second Authorization or a proxy's certificate header among them.
  refuseTruncatedHeads(fastify, SOURCE)
  const challenges = new Challenges(config.realm, Math.max(1, Math.ceil(authenticator.longestCooldownMs / 1000)))
  const { tickets } = config
  const serializeReq = redactingReqSerializer(tickets === undefined ? [config.queryParameter] : [config.queryParameter, TICKET_QUERY_PARAMETER])
  const available = new Set<RouteMethod>([
    ...(config.issuers.length > 0 ? ['jwt' as const] : []),
    ...(config.mtls !== undefined ? ['mtls' as const] : []),
    ...(config.issuers.length > 0 && config.mtls !== undefined ? ['jwt+mtls' as const] : []),
    ...(tickets !== undefined ? ['ticket' as const] : [])
  ])
  // Sec-WebSocket-Protocol entries that carry a credential: never echoed in a 101.
  const credentialProtocols = tickets === undefined ? [config.subprotocolPrefix] : [config.subprotocolPrefix, TICKET_PROTOCOL_PREFIX]
  const ticketRoutes = tickets === undefined ? undefined : new TicketRoutes(fastify)
  // The endpoint and the handshake share one count of each principal's unused tickets, and
  // one throttle on the store's failure warnings (they fail together).
  const ticketWarning = new ThrottledWarning(config.clock, fastify.log)
  // Routes found without their rules on their config (see makeHook), logged once each.
  const lostRules = new Set<string>()
  const quota = tickets === undefined ? undefined : new TicketQuota(tickets.maxPerPrincipal, config.clock)
  const redeemer = tickets === undefined ? undefined : new TicketRedeemer(tickets, config.clock, ticketWarning, quota as TicketQuota)
  const bound = new Set(config.issuers.filter((i) => i.certificateBound).map((i) => i.issuer))
  const tolerances = new Map(config.issuers.map((i) => [i.issuer, i.clockToleranceMs]))
  const largestTolerance = Math.max(0, ...tolerances.values())
  const app = appIdentity(fastify)
  // The positive mark of a handshake this plugin admitted (see refuseUngovernedRoutes).
  const admitted = requestMark(fastify, '@wsguard/auth-handshake.admitted')
  // A socket opened with a ticket: its refreshes are checked as on a `jwt` route, each of them
  // (its principal is a token's after the first, so the principal cannot say).
  const openedWithTicket = requestMark(fastify, '@wsguard/auth-handshake.openedWithTicket')

  fastify.decorateRequest('principal', null)
  fastify.decorate('wsguardAuth', {
    async authenticate (token: string, request?: FastifyRequest): Promise<CoreAuthOutcome> {
      const outcome = await authenticator.authenticate(token, request)
      if (!outcome.ok) return outcome
      const rules = (request?.routeOptions.config as { [kRouteRules]?: RouteRules } | undefined)?.[kRouteRules]
      // The same binding as the handshake: a refreshed token must fit the connection's
      // certificate, and a bound token needs its certificate whatever the route. Checked as on a
      // `jwt` route on a route this plugin does not govern (`auth: false`, whose principal the
      // app set) and for a socket opened with a ticket (checked so at its handshake: its
      // principal carries no certificate). Without a request there is no connection, and a
      // bound token is refused.
      const methods = rules === undefined || openedWithTicket.has(request as FastifyRequest) ? TOKEN_METHODS : rules.methods
      const readCert = request === undefined ? () => undefined : () => certificateOf(request, config.mtls, config.clock.now())
      const principal = bindToken(outcome.principal, readCert, config.mtls, methods, bound.has(outcome.principal.issuer as string))
      if (typeof principal === 'string') return { ok: false, code: principal }
      const code = rules === undefined ? undefined : checkScopes(principal.scopes, rules)
      return code === undefined ? { ok: true, principal } : { ok: false, code }
    },
    clockToleranceMs (issuer?: string): number {
      return tolerances.get(issuer as string) ?? largestTolerance
    }
  } satisfies WsguardAuth)

  fastify.addHook('onReady', function warmUp () {
    // Not awaited: an IdP that is down must not stop the app from starting; handshakes
    // answer 503 until its keys can be fetched.
    authenticator.warmUp() // never rejects
  })

  // Governed routes have admitted (marked) their handshakes by the time preValidation runs.
  // Never `principal !== null`: in a context created before the decorator, it reads undefined.
  refuseUngovernedRoutes(fastify, {
    source: SOURCE,
    phase: 'preValidation',
    handled: (request) => admitted.has(request),
    exempt: (routeConfig) => routeConfig?.auth === false,
    consequence: 'it has no authentication',
    optOut: 'config.auth: false'
  })

  fastify.addHook('onRoute', (routeOptions: RouteOptions) => {
    if (routeOptions.websocket !== true && typeof routeOptions.wsHandler !== 'function') return
    const route = routeOptions.url
    const rules = compileRouteRules((routeOptions.config as { auth?: unknown } | undefined)?.auth, `${String(routeOptions.method)} ${route}`, available)
    // Opting out of authentication is not opting out of credential hygiene: the URL is still
    // logged redacted, and a `bearer.` subprotocol entry still never echoed.
    if (config.redactLogs) {
      const serializers = (routeOptions.logSerializers ??= {}) as Record<string, unknown>
      if (!Object.hasOwn(serializers, 'req')) serializers.req = serializeReq
    }
    // Read (and validated) even on an opted-out route: a typo fails registration everywhere.
    const http = governsHttp(routeOptions)
    if (rules === false) return
    // A HEAD request can never be upgraded (the HEAD twin Fastify adds to a GET route, too): no
    // token work, unless the route asked for its HTTP requests to be governed (the HEAD twin of
    // a { handler, wsHandler } route runs its handler).
    if (!http && [routeOptions.method].flat().every((m) => m === 'HEAD')) return addOnRequest(routeOptions, headIsNoHandshake)
    // Kept on the route's config (Fastify copies symbol keys) for wsguardAuth.authenticate(token, request).
    routeOptions.config = { ...routeOptions.config, [kRouteRules]: rules } as RouteOptions['config']
    // An in-band refresh runs the route's scope rules too (core's handshake checks).
    addHandshakeCheck(routeOptions, { source: SOURCE, check: (_request, principal) => checkScopes(principal.scopes, rules) })
    if (rules.methods.has('ticket')) ticketRoutes?.add(route, rules)
    addOnRequest(routeOptions, makeHook({ config, authenticator, challenges, rules, route, bound, app, admitted, openedWithTicket, http, redeemer, credentialProtocols, lostRules }))
  })

  // Every upgrade that reaches the handler (a route that opted out, one added before the
  // plugin with `config.auth: false`, a child context's) has its `bearer.` entries removed
  // first, so `ws`, which selects the first protocol offered, can never echo a token in the
  // 101. An instance-level preHandler runs after every route's onRequest (where a governed
  // route reads the token) and before the handler upgrades.
  fastify.addHook('preHandler', function wsguardStripBearerProtocol (request, _reply, done) {
    // A handshake this plugin admitted had its entry removed by its route hook already.
    if (request.ws === true && request.headers['sec-websocket-protocol'] !== undefined && !admitted.has(request)) {
      stripCredentialProtocols(request.raw.headers, credentialProtocols)
    }
    done()
  })

  if (config.browserRejection === 'close') {
    const server = refusalServer(fastify.websocketServer)
    const delivery: CloseDeliveryContext = { server, credentialProtocols }
    // A refused socket still waiting for its client's close when the app closes is cut off,
    // and an upgrade refused after that (a check still answering) gets ws's 503, not a 101.
    fastify.addHook('preClose', (done) => {
      for (const ws of server.clients) ws.terminate()
      server.close()
      done()
    })
    // Instance-level, so it runs before every route's own onRequest hooks (telemetry's storm
    // gate among them): whichever plugin refuses this upgrade, the refusal becomes a close.
    fastify.addHook('onRequest', function wsguardBrowserRejection (request, reply, done) {
      // A browser always sends Origin with an upgrade; other clients get the HTTP answer.
      // (@fastify/websocket's injectWS builds a request without a socket: it gets HTTP too.)
      if (request.ws === true && request.method === 'GET' && request.headers.origin !== undefined && request.raw.socket != null) {
        deliverRejectionsWith(request.raw, closeDelivery(request, reply, delivery))
      }
      done()
    })
  }

  if (tickets !== undefined) {
    await registerTicketEndpoint(fastify, {
      config,
      tickets,
      authenticator,
      challenges,
      routes: ticketRoutes as TicketRoutes,
      certificateOf: (request) => certificateOf(request, config.mtls, config.clock.now()),
      bound,
      quota: quota as TicketQuota,
      warning: ticketWarning
    })
  }
}

function addOnRequest (routeOptions: RouteOptions, hook: OnRequest): void {
  const existing = routeOptions.onRequest
  routeOptions.onRequest = [...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]), hook]
}

/**
 * A HEAD request is no handshake, even with an Upgrade header: answered 404 as
 * @fastify/websocket answers any HEAD of a websocket route, before any credential is read.
 */
function headIsNoHandshake (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (request.ws === true) {
    reply.code(404).send()
    return
  }
  done()
}

/** The client certificate of a request: forwarded by a trusted proxy, or from this TLS connection. */
/** The certificate of a route that does not use certificates: read only for a bound token. */
const LATER = Symbol('read the certificate when a bound token needs it')

function certificateOf (request: FastifyRequest, mtls: MtlsConfig | undefined, now: number): CertificateState {
  if (mtls === undefined) return undefined
  if (mtls.proxy !== undefined) {
    const forwarded = readForwardedCertificate(mtls.proxy, request.raw.socket?.remoteAddress, request.headers, now)
    if (forwarded !== undefined) return forwarded
  }
  return readClientCertificate(request.raw.socket, now)
}

/** What one governed route's hook needs, built once per route. */
interface RouteContext {
  readonly config: AuthHandshakeConfig
  readonly authenticator: TokenAuthenticator
  readonly challenges: Challenges
  readonly rules: RouteRules
  readonly route: string
  /** issuers whose tokens must be certificate-bound */
  readonly bound: ReadonlySet<string>
  readonly app: AppIdentity
  /** the positive mark of an admitted request */
  readonly admitted: RequestMark
  /** the mark of a request admitted with a ticket */
  readonly openedWithTicket: RequestMark
  /** `config.governHttp`: plain HTTP requests are checked too */
  readonly http: boolean
  /** takes tickets, when the plugin has them */
  readonly redeemer: TicketRedeemer | undefined
  /** the `Sec-WebSocket-Protocol` prefixes of credentials, removed once read */
  readonly credentialProtocols: readonly string[]
  /** routes already logged as having lost their rules from their config */
  readonly lostRules: Set<string>
}

function makeHook ({ config, authenticator, challenges, rules, route, bound, app, admitted, openedWithTicket, http, redeemer, credentialProtocols, lostRules }: RouteContext): OnRequest {
  const { allowedOrigins, requireOrigin, mtls } = config
  const wantsCertificate = rules.methods.has('mtls') || rules.methods.has('jwt+mtls')
  // A route that takes only tickets refuses a token in any carrier: a credential it does not accept.
  const takesTokens = TOKEN_OR_CERTIFICATE.some((m) => rules.methods.has(m))

  function reject (request: FastifyRequest, reply: FastifyReply, started: number, code: WsguardErrorCode, fault?: Fault, principal?: Principal): void {
    const scope = code === 'WSG_INSUFFICIENT_SCOPE' ? rules.requiredText : undefined
    sendRejection(reply, code, challenges.headers(code, fault, scope))
    // A plain HTTP request (config.governHttp) is answered alike, but is no handshake to count.
    if (request.ws === true) publishRejection(SOURCE, request, route, code, started, fault, principal)
  }

  function finish (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, started: number, outcome: AuthOutcome, found: Found | undefined, cert: CertificateState | typeof LATER): void {
    if (!outcome.ok) return reject(request, reply, started, outcome.code, outcome.fault)
    const readCert = cert === LATER ? () => certificateOf(request, mtls, config.clock.now()) : () => cert
    const methods = found?.carrier === 'ticket' ? TOKEN_METHODS : rules.methods
    const combined = found === undefined ? outcome.principal : bindToken(outcome.principal, readCert, mtls, methods, bound.has(outcome.principal.issuer as string))
    if (typeof combined === 'string') return reject(request, reply, started, combined, undefined, outcome.principal)
    const principal = combined
    const scopeFault = checkScopes(principal.scopes, rules)
    if (scopeFault !== undefined) return reject(request, reply, started, scopeFault, undefined, principal)
    request.principal = principal
    admitted.set(request)
    if (found?.carrier === 'ticket') openedWithTicket.set(request)
    linkRequest(request)
    if (found?.inProtocol === true) stripCredentialProtocols(request.raw.headers, credentialProtocols)
    if (authenticated.hasSubscribers && request.ws === true) {
      authenticated.publish({
        app,
        principal,
        route,
        remoteAddress: request.ip,
        ...(request.headers.origin !== undefined ? { origin: publishedOrigin(request.headers.origin) } : {}),
        durationMs: performance.now() - started
      })
    }
    done()
  }

  return function wsguardAuthenticate (request, reply, done) {
    // Only an upgrade can open a websocket. Anything else costs no credential work: a plain
    // GET gets @fastify/websocket's 404 (`websocket: true`) or the app's own HTTP handler
    // (`wsHandler`), which this plugin does not govern (request.principal stays null there)
    // unless the route asked for it (config.governHttp: the same checks as the handshake).
    if (request.ws !== true) {
      if (!http) return done()
    } else if (request.method === 'HEAD') {
      return headIsNoHandshake(request, reply, done)
    }
    const started = rejected.hasSubscribers || authenticated.hasSubscribers ? performance.now() : 0
    // The route's rules are also kept on its config, for an in-band refresh (authenticate(token,
    // request) and core's handshake checks): a later onRoute hook that replaced config without
    // its symbol keys took them away, and every refresh would skip them, whatever checks it
    // (Z33). Refused as a route left ungoverned, before any credential is read.
    if ((request.routeOptions.config as { [kRouteRules]?: RouteRules } | undefined)?.[kRouteRules] === undefined) {
      return refuseLostRouteState(request, reply, { source: SOURCE, route, what: 'its authentication rules', said: lostRules, started, principal: null })
    }
    const origin = request.headers.origin
    if (origin === undefined ? requireOrigin : (allowedOrigins !== undefined && !allowedOrigins(origin))) {
      return reject(request, reply, started, 'WSG_ORIGIN_DENIED')
    }
    // Routes that use certificates read it now; the others only if a bound token needs it.
    const cert = wantsCertificate ? certificateOf(request, mtls, config.clock.now()) : LATER
    // A certificate the route relies on and the TLS layer did not verify: refused before any token work.
    if (cert === 'untrusted' && wantsCertificate) return reject(request, reply, started, 'WSG_CERT_UNTRUSTED')
    const found = findCredential({ headers: request.headers, rawHeaders: request.raw.rawHeaders ?? NO_RAW_HEADERS, query: request.query }, config)
    if (typeof found === 'string') return reject(request, reply, started, found)
    if (found === null) {
      if (typeof cert === 'object' && rules.methods.has('mtls')) {
        const principal = certificatePrincipal(cert, mtls as MtlsConfig)
        if (typeof principal === 'string') return reject(request, reply, started, principal)
        return finish(request, reply, done, started, { ok: true, principal }, undefined, cert)
      }
      return reject(request, reply, started, rules.methods.has('jwt') || typeof cert === 'object' ? 'WSG_CREDENTIAL_MISSING' : 'WSG_CERT_REQUIRED')
    }
    let outcome: AuthOutcome | Promise<AuthOutcome>
    if (found.carrier === 'ticket') {
      // Only a route that takes tickets looks one up (and uses it up).
      if (!rules.methods.has('ticket')) return reject(request, reply, started, 'WSG_BAD_REQUEST')
      outcome = (redeemer as TicketRedeemer).redeem(found.token, request)
    } else {
      if (!takesTokens) return reject(request, reply, started, 'WSG_BAD_REQUEST')
      outcome = authenticator.authenticate(found.token, request)
    }
    if (outcome instanceof Promise) {
      // .catch, not a second then-argument: an error thrown in finish must reach Fastify, not go unhandled.
      outcome.then((o) => finish(request, reply, done, started, o, found, cert)).catch(done)
    } else {
      finish(request, reply, done, started, outcome, found, cert)
    }
  }
}
