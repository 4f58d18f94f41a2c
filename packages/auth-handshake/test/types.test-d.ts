// Type tests: compiled by `pnpm typecheck`, never run. Each public option is used once with
// its right type and once, under @ts-expect-error, with a wrong one.
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import fastifyJwt from '@fastify/jwt'
import buildGetJwks from 'get-jwks'
import { Type } from '@sinclair/typebox'
import type { Principal, PrincipalKind } from '@wsguard/core'
import {
  authHandshake, redactingReqSerializer, requirePrincipal, DEFAULT_VERIFY_TIMEOUT_MS, HMAC_ALGORITHMS, type AuthHandshakeOptions,
  type JwtIssuerOptions, type AuthOutcome, type Carrier, type ClientCertificate, type FastifyJwtSource, type HmacAlgorithm,
  type JwtFastifyJwtHmacIssuerOptions, type JwtFastifyJwtIssuerOptions, type JwtKeySetIssuerOptions, type MtlsIdentity,
  type RouteAuthConfig, type TokenFault, backchannelLogout, MemoryReplayStore, BACKCHANNEL_LOGOUT_EVENT,
  type BackchannelLogoutOptions, type LogoutIssuerOptions, type LogoutTokenFault, type RevocationStore, type KeySetOptions,
  MemoryTicketStore, TICKET_PROTOCOL_PREFIX, TICKET_QUERY_PARAMETER, DEFAULT_TICKET_PATH, DEFAULT_TICKET_TTL_MS, MIN_TICKET_TTL_MS,
  MAX_TICKET_TTL_MS, DEFAULT_TICKET_STORE_TIMEOUT_MS, DEFAULT_TICKET_MAX_ENTRIES, REFUSAL_CLOSE_TIMEOUT_MS, REFUSAL_MAX_PAYLOAD, DEFAULT_TICKETS_PER_PRINCIPAL, MAX_TICKETS_PER_PRINCIPAL, type TicketOptions,
  type TicketRecord, type TicketStore, DEFAULT_LOGOUT_MAX_PER_SUBJECT, MAX_LOGOUT_SUBJECTS
} from '../src/index.js'

const issuer: JwtIssuerOptions = {
  issuer: 'https://idp.example',
  audience: ['feed-api'],
  algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
  discovery: true,
  jwksUri: 'https://idp.example/jwks',
  jwks: { keys: [{ kty: 'EC' }] },
  clockToleranceMs: 30_000,
  maxTokenAgeMs: 3_600_000,
  typ: 'at+jwt',
  claims: Type.Object({ tenant: Type.String() }),
  kind: (claims): PrincipalKind => (claims.client_id === claims.sub ? 'workload' : 'user'),
  jwksCooldownMs: 30_000,
  jwksMaxAgeMs: 600_000,
  jwksTimeoutMs: 5_000
}

const options: AuthHandshakeOptions = {
  jwt: [issuer],
  carriers: ['header', 'subprotocol', 'cookie', 'query'],
  cookieName: 'access_token',
  queryParameter: 'access_token',
  subprotocolPrefix: 'bearer.',
  allowedOrigins: ['https://app.example'],
  requireOrigin: false,
  realm: 'wsguard',
  maxTokenBytes: 8192,
  verifiedTokenCacheSize: 1024,
  verifiedTokenCacheTtlMs: 600_000,
  redactLogs: true,
  clock: { now: () => Date.now() }
}
export const predicateOrigins: AuthHandshakeOptions = { jwt: issuer, allowedOrigins: (origin: string) => origin.endsWith('.example') }

// @ts-expect-error algorithms is required
export const noAlgorithms: JwtIssuerOptions = { issuer: 'x', audience: 'a' }
// @ts-expect-error HS256 is not an accepted algorithm
export const hmac: JwtIssuerOptions = { ...issuer, algorithms: ['HS256'] }
// @ts-expect-error none is not an accepted algorithm
export const none: JwtIssuerOptions = { ...issuer, algorithms: ['none'] }
// @ts-expect-error audience is a string or strings
export const audNumber: JwtIssuerOptions = { ...issuer, audience: 1 }
// @ts-expect-error durations are numbers of ms
export const toleranceText: JwtIssuerOptions = { ...issuer, clockToleranceMs: '30s' }
// @ts-expect-error kind returns user or workload
export const badKind: JwtIssuerOptions = { ...issuer, kind: () => 'robot' }
export const mtlsOnly: AuthHandshakeOptions = {
  mtls: { trustDomains: ['prod.example'], identity: 'spiffe', allow: ['spiffe://prod.example/ns/billing/sa/*'] }
}
export const customPki: AuthHandshakeOptions = {
  mtls: { identity: (cert: ClientCertificate): MtlsIdentity | undefined => (cert.subject.includes('CN=') ? { id: cert.subject, kind: 'workload', scopes: ['ingest'] } : undefined) },
  jwt: { ...issuer, certificateBound: 'required' }
}
export const proxied: AuthHandshakeOptions = {
  mtls: { trustDomains: ['prod.example'], trustProxyCertificateHeader: { header: 'x-client-cert', proxies: ['10.0.0.5'], ca: '-----BEGIN CERTIFICATE-----' } },
  jwt: { ...issuer, certificateBound: 'optional' }
}
// @ts-expect-error proxies is a list of addresses
export const badProxies: AuthHandshakeOptions = { mtls: { trustDomains: ['a'], trustProxyCertificateHeader: { header: 'x', proxies: '10.0.0.5', ca: 'pem' } } }
// @ts-expect-error identity is 'spiffe' or a function
export const badIdentity: AuthHandshakeOptions = { mtls: { identity: 'x509' } }
// @ts-expect-error trustDomains is a list
export const badDomains: AuthHandshakeOptions = { mtls: { trustDomains: 'prod.example' } }
// @ts-expect-error allow is a list of patterns
export const badAllow: AuthHandshakeOptions = { mtls: { trustDomains: ['a'], allow: 'spiffe://a/b' } }
// @ts-expect-error certificateBound is 'required' or 'optional'
export const badBound: JwtIssuerOptions = { ...issuer, certificateBound: true }
// @ts-expect-error unknown carrier
export const badCarrier: AuthHandshakeOptions = { jwt: issuer, carriers: ['body'] }
// @ts-expect-error requireOrigin is a boolean
export const badRequireOrigin: AuthHandshakeOptions = { jwt: issuer, requireOrigin: 'yes' }
// @ts-expect-error clock needs now()
export const badClock: AuthHandshakeOptions = { jwt: issuer, clock: {} }
// @ts-expect-error cache size is a number
export const badCache: AuthHandshakeOptions = { jwt: issuer, verifiedTokenCacheSize: true }
// @ts-expect-error redactLogs is a boolean
export const badRedact: AuthHandshakeOptions = { jwt: issuer, redactLogs: 1 }
// Beside @fastify/jwt: the app's registration verifies the signature, every wsguard check applies.
const common = { issuer: 'https://idp.example', audience: 'feed-api', typ: 'at+jwt', claims: Type.Object({ tenant: Type.String() }) }
export const keySet: JwtKeySetIssuerOptions = { ...common, algorithms: ['ES256'], jwksUri: 'https://idp.example/jwks' }
export const viaFastifyJwt: JwtFastifyJwtIssuerOptions = { ...common, algorithms: ['RS256', 'ES256'], fastifyJwt: true, verifyTimeoutMs: 2_000, certificateBound: 'optional' }
export const source: FastifyJwtSource = { namespace: 'idp', jwtVerify: 'idpVerify' }
export const viaNamespace: JwtIssuerOptions = { ...common, algorithms: ['RS256'], fastifyJwt: source }
export const hmacOptIn: JwtFastifyJwtHmacIssuerOptions = { ...common, algorithms: ['HS256', 'HS512'], fastifyJwt: true, allowHmac: true }
export const severalIssuers: AuthHandshakeOptions = { jwt: [keySet, viaFastifyJwt, hmacOptIn] }
export const hmacList: readonly HmacAlgorithm[] = HMAC_ALGORITHMS
export const verifyDefault: number = DEFAULT_VERIFY_TIMEOUT_MS
// @ts-expect-error HMAC algorithms need allowHmac: true
export const hmacNoOptIn: JwtIssuerOptions = { ...common, algorithms: ['HS256'], fastifyJwt: true }
// @ts-expect-error allowHmac needs fastifyJwt: wsguard's own key sets hold no shared secrets
export const hmacKeySet: JwtIssuerOptions = { ...common, algorithms: ['HS256'], jwks: { keys: [] }, allowHmac: true }
// @ts-expect-error HMAC and public-key algorithms never mix
export const mixed: JwtIssuerOptions = { ...common, algorithms: ['HS256', 'RS256'], fastifyJwt: true, allowHmac: true }
// @ts-expect-error fastifyJwt and a key set are exclusive
export const twoSources: JwtIssuerOptions = { ...common, algorithms: ['RS256'], fastifyJwt: true, jwks: { keys: [] } }
// @ts-expect-error key-set options do not apply to a fastifyJwt issuer
export const cooldownWithFastifyJwt: JwtIssuerOptions = { ...common, algorithms: ['RS256'], fastifyJwt: true, jwksCooldownMs: 1 }
// @ts-expect-error verifyTimeoutMs is for fastifyJwt issuers
export const verifyTimeoutKeySet: JwtIssuerOptions = { ...common, algorithms: ['RS256'], jwks: { keys: [] }, verifyTimeoutMs: 1 }
// @ts-expect-error fastifyJwt is true or { namespace?, jwtVerify? }
export const fastifyJwtFalse: JwtIssuerOptions = { ...common, algorithms: ['RS256'], fastifyJwt: false }
// @ts-expect-error a namespace is a string
export const badNamespace: JwtIssuerOptions = { ...common, algorithms: ['RS256'], fastifyJwt: { namespace: 1 } }
// @ts-expect-error verifyTimeoutMs is a number of ms
export const badVerifyTimeout: JwtIssuerOptions = { ...common, algorithms: ['RS256'], fastifyJwt: true, verifyTimeoutMs: '5s' }

// The README's "Beside @fastify/jwt" registration, as written there.
export async function besideFastifyJwt (): Promise<void> {
  const app = Fastify()
  await app.register(websocket)
  const getJwks = buildGetJwks()
  await app.register(fastifyJwt, {
    decode: { complete: true },
    secret: async (_request: unknown, token: unknown) => {
      const { header, payload } = token as { header: { kid: string, alg: string }, payload: { iss: string } }
      return await getJwks.getPublicKey({ kid: header.kid, alg: header.alg, domain: payload.iss })
    }
  })
  await app.register(authHandshake, { jwt: { issuer: 'https://idp.example', audience: 'feed-api', algorithms: ['RS256'], fastifyJwt: true } })
  app.addHook('onRequest', async (request) => {
    if (request.ws && request.routeOptions.config.auth !== false) return
    await request.jwtVerify()
  })
}

export const carrier: Carrier = 'cookie'
export const scopeFault: TokenFault = 'scope'
// @ts-expect-error fault words are fixed
export const badFault: TokenFault = 'scopes'

export async function routes (): Promise<void> {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authHandshake, options)
  app.get('/feed', { websocket: true, config: { auth: { scopes: ['feed:read'], allowedScopes: ['feed:read'] } } }, (socket, req) => {
    // @ts-expect-error request.principal is null on opted-out routes: narrow it first
    const unchecked: string = req.principal.id
    const p: Principal = requirePrincipal(req)
    const id: string = p.id
    const scopes: readonly string[] = p.scopes
    // @ts-expect-error the principal is read-only
    p.id = 'mallory'
    const maybe: Principal | null = req.principal
    app.log.info({ unchecked, maybe })
    socket.send(`${p.method} ${id} ${scopes.join(' ')}`)
  })
  app.get('/open', { websocket: true, config: { auth: false } }, () => {})
  // Near misses of the option names fail in app.get itself, not only at registration.
  // @ts-expect-error `scope` for `scopes`
  app.get('/typo', { websocket: true, config: { auth: { scope: ['feed:read'] } } }, () => {})
  // @ts-expect-error `allowedScope` for `allowedScopes`
  app.get('/typo2', { websocket: true, config: { auth: { allowedScope: ['feed:read'] } } }, () => {})
  // @ts-expect-error `method` for `methods`
  app.get('/typo3', { websocket: true, config: { auth: { method: ['jwt'] } } }, () => {})
  // @ts-expect-error `requiredScopes` is not an option
  app.get('/typo4', { websocket: true, config: { auth: { requiredScopes: ['feed:read'] } } }, () => {})
  // @ts-expect-error `scp` is a claim, not a route rule
  app.route({ method: 'GET', url: '/typo5', websocket: true, config: { auth: { scp: ['feed:read'] } }, handler: async () => 'x', wsHandler: () => {} })
  // @ts-expect-error scopes is a list, not a string
  app.get('/typo6', { websocket: true, config: { auth: { scopes: 'feed:read' } } }, () => {})
  // @ts-expect-error with satisfies, any unknown key is an error
  const exact = { scopes: ['feed:read'], roles: ['admin'] } satisfies RouteAuthConfig
  app.log.info(exact)
  const rule: RouteAuthConfig = { scopes: ['feed:read'], allowedScopes: ['feed:read'], methods: ['jwt'] }
  app.get('/from-a-variable', { websocket: true, config: { auth: rule } }, () => {})
  app.get('/ingest', { websocket: true, config: { auth: { methods: ['mtls', 'jwt+mtls'] } } }, () => {})
  // @ts-expect-error methods are jwt, mtls, jwt+mtls
  app.get('/bad-method', { websocket: true, config: { auth: { methods: ['basic'] } } }, () => {})
  // @ts-expect-error scopes are strings
  app.get('/bad2', { websocket: true, config: { auth: { scopes: [1] } } }, () => {})
  const outcome: AuthOutcome = await app.wsguardAuth.authenticate('token')
  const said: string = outcome.ok ? outcome.principal.id : outcome.code
  const tolerance: number | undefined = app.wsguardAuth.clockToleranceMs?.('https://idp.example')
  const largest: number | undefined = app.wsguardAuth.clockToleranceMs?.()
  // @ts-expect-error the issuer is a string
  app.wsguardAuth.clockToleranceMs?.(42)
  app.log.info({ tolerance, largest })
  app.get('/refreshable', { websocket: true }, async (_socket, req) => {
    const withRouteRules: AuthOutcome = await app.wsguardAuth.authenticate('token', req)
    // @ts-expect-error the second argument is a request
    await app.wsguardAuth.authenticate('token', '/refreshable')
    app.log.info(withRouteRules.ok)
  })
  app.log.info(said)
}

// The redacting serializer fits the app logger's serializers.req (for URLs no route matches).
const redacted = Fastify({ logger: { serializers: { req: redactingReqSerializer(['access_token']) } } })
redacted.log.info('ready')
// @ts-expect-error the parameter names are an array
redactingReqSerializer('access_token')

// Back-channel logout: each option once with its type, and once wrong.
const revocationStore: RevocationStore = { revoke: async () => {}, isRevoked: () => false, subscribe: () => () => {} }
const logoutIssuer: LogoutIssuerOptions = {
  issuer: 'https://idp.example',
  audience: 'feed-web',
  algorithms: ['RS256', 'ES256'],
  discovery: true,
  jwksUri: 'https://idp.example/jwks',
  jwks: { keys: [{ kty: 'RSA' }] },
  jwksCooldownMs: 30_000,
  jwksMaxAgeMs: 600_000,
  jwksTimeoutMs: 5_000
}
export const logout: BackchannelLogoutOptions = {
  path: '/oidc/backchannel-logout',
  issuers: [logoutIssuer],
  revocations: revocationStore,
  replays: new MemoryReplayStore({ maxEntries: 10_000, clock: { now: () => Date.now() } }),
  revokeBy: 'session',
  maxTokenAgeMs: 120_000,
  clockToleranceMs: 5_000,
  requireExplicitTyp: true,
  revocationRetentionMs: 86_400_000,
  storeTimeoutMs: 2_000,
  maxTokenBytes: 8192,
  maxLogoutsPerSubject: DEFAULT_LOGOUT_MAX_PER_SUBJECT,
  clock: { now: () => Date.now() }
}
export const logoutSubjectsTracked: number = MAX_LOGOUT_SUBJECTS
export const sharedReplays: BackchannelLogoutOptions = { issuers: logoutIssuer, revocations: revocationStore, replays: { claim: async () => true, release: async () => {} }, revokeBy: 'subject' }
// @ts-expect-error revocations is required: a logout that revokes nothing is no logout
export const noStore: BackchannelLogoutOptions = { issuers: logoutIssuer }
// @ts-expect-error issuers is required
export const noIssuers: BackchannelLogoutOptions = { revocations: revocationStore }
// The key-set options both kinds of issuer share.
export const keySetOf: KeySetOptions[] = [logoutIssuer, keySet]
// @ts-expect-error durations are numbers of ms
export const badKeySet: KeySetOptions = { jwksUri: 'https://idp.example/jwks', jwksTimeoutMs: '5s' }
// @ts-expect-error a logout issuer has no access-token options such as typ
export const typedIssuer: LogoutIssuerOptions = { ...logoutIssuer, typ: 'at+jwt' }
// @ts-expect-error none is not an accepted algorithm
export const noneIssuer: LogoutIssuerOptions = { ...logoutIssuer, algorithms: ['none'] }
// @ts-expect-error revokeBy is 'session' or 'subject'
export const badRevokeBy: BackchannelLogoutOptions = { ...logout, revokeBy: 'sid' }
// @ts-expect-error a replay store has claim and release
export const badReplays: BackchannelLogoutOptions = { ...logout, replays: { claim: () => true } }
// @ts-expect-error durations are numbers of ms
export const badAge: BackchannelLogoutOptions = { ...logout, maxTokenAgeMs: '2m' }
// @ts-expect-error durations are numbers of ms
export const badTolerance: BackchannelLogoutOptions = { ...logout, clockToleranceMs: '5s' }
// @ts-expect-error durations are numbers of ms
export const badRetention: BackchannelLogoutOptions = { ...logout, revocationRetentionMs: '1d' }
// @ts-expect-error durations are numbers of ms
export const badTimeout: BackchannelLogoutOptions = { ...logout, storeTimeoutMs: true }
// @ts-expect-error requireExplicitTyp is a boolean
export const badTyp: BackchannelLogoutOptions = { ...logout, requireExplicitTyp: 'logout+jwt' }
// @ts-expect-error the path is a string
export const badPath: BackchannelLogoutOptions = { ...logout, path: /logout/ }
// @ts-expect-error maxTokenBytes is a number
export const badBytes: BackchannelLogoutOptions = { ...logout, maxTokenBytes: '8k' }
// @ts-expect-error maxLogoutsPerSubject is a number
export const badShare: BackchannelLogoutOptions = { ...logout, maxLogoutsPerSubject: '100' }
// @ts-expect-error clock needs now()
export const badLogoutClock: BackchannelLogoutOptions = { ...logout, clock: {} }
// @ts-expect-error maxEntries is a number
export const badMax = new MemoryReplayStore({ maxEntries: 'many' })
export const logoutFault: LogoutTokenFault = 'replayed'
// @ts-expect-error fault words are fixed
export const badLogoutFault: LogoutTokenFault = 'replay'
export const event: string = BACKCHANNEL_LOGOUT_EVENT

export async function logoutEndpoint (): Promise<void> {
  const app = Fastify()
  await app.register(backchannelLogout, logout)
  // @ts-expect-error the options are checked by register's types too
  await app.register(backchannelLogout, { issuers: logoutIssuer })
}

// --- one-time tickets and browserRejection ------------------------------------------------
export const withTickets: AuthHandshakeOptions = {
  jwt: issuer,
  carriers: ['header', 'subprotocol', 'ticket'],
  allowedOrigins: ['https://app.example'],
  tickets: {
    path: '/ws-ticket',
    ttlMs: 30_000,
    store: new MemoryTicketStore({ maxEntries: 10_000, clock: { now: () => Date.now() } }),
    principalFor: async (request): Promise<Principal | null> => request.headers.cookie === undefined ? null : null,
    storeTimeoutMs: 2_000,
    maxPerPrincipal: 32
  },
  browserRejection: 'close'
}
export const sharedTickets: TicketStore = { issue: async () => {}, consume: async (): Promise<TicketRecord | undefined> => undefined }
export const httpRefusals: AuthHandshakeOptions = { jwt: issuer, browserRejection: 'http' }
export const ticketRoute: RouteAuthConfig = { methods: ['ticket'] }
export const ticketCarrier: Carrier = 'ticket'
export const ticketNames: string[] = [TICKET_PROTOCOL_PREFIX, TICKET_QUERY_PARAMETER, DEFAULT_TICKET_PATH]
export const ticketBounds: number[] = [DEFAULT_TICKET_TTL_MS, MIN_TICKET_TTL_MS, MAX_TICKET_TTL_MS, DEFAULT_TICKET_STORE_TIMEOUT_MS, DEFAULT_TICKET_MAX_ENTRIES, REFUSAL_CLOSE_TIMEOUT_MS, REFUSAL_MAX_PAYLOAD, DEFAULT_TICKETS_PER_PRINCIPAL, MAX_TICKETS_PER_PRINCIPAL]
export const ticketOptions: TicketOptions = {}
// @ts-expect-error browserRejection is 'http' or 'close'
export const badRejection: AuthHandshakeOptions = { jwt: issuer, browserRejection: true }
// @ts-expect-error the ticket lifetime is a number of ms
export const badTicketTtl: TicketOptions = { ttlMs: '30s' }
// @ts-expect-error the path is a string
export const badTicketPath: TicketOptions = { path: /ws-ticket/ }
// @ts-expect-error a store issues and consumes
export const badTicketStore: TicketOptions = { store: { consume: () => undefined } }
// @ts-expect-error principalFor answers a principal or null, not a user id
export const badPrincipalFor: TicketOptions = { principalFor: () => 'alice' }
// @ts-expect-error the store timeout is a number of ms
export const badTicketTimeout: TicketOptions = { storeTimeoutMs: '2s' }
// @ts-expect-error maxPerPrincipal is a number of tickets
export const badTicketsPerPrincipal: TicketOptions = { maxPerPrincipal: '32' }
// @ts-expect-error maxEntries is a number
export const badTicketMax = new MemoryTicketStore({ maxEntries: 'many' })
// @ts-expect-error a route method is one of the four
export const badTicketRoute: RouteAuthConfig = { methods: ['tickets'] }
