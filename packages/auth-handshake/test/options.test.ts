import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { Type } from '@sinclair/typebox'
import { generateKey, jwks } from '@wsguard/testing'
import { authHandshake, type AuthHandshakeOptions } from '../src/index.js'
import { validateOptions } from '../src/options.js'

const key = generateKey('ES256')
const issuer = { issuer: 'https://idp.test', audience: 'feed-api', algorithms: ['ES256'], jwks: jwks(key) }

const cases: Array<[string, unknown, RegExp]> = [
  ['unknown top-level option', { jwt: issuer, carrier: ['header'] }, /opts\.carrier is not an option/],
  ['neither jwt nor mtls', {}, /opts needs jwt, mtls or both/],
  ['certificateBound', { jwt: { ...issuer, certificateBound: true } }, /opts\.jwt\.certificateBound must be 'required' or 'optional'/],
  ['mtls not an object', { mtls: 'spiffe' }, /opts\.mtls must be an object/],
  ['mtls unknown key', { mtls: { trustDomain: ['a'] } }, /opts\.mtls\.trustDomain is not an option/],
  ['mtls identity', { mtls: { identity: 'x509' } }, /opts\.mtls\.identity must be 'spiffe' or a function/],
  ['mtls trust domains', { mtls: { trustDomains: ['Prod.Example'] } }, /opts\.mtls\.trustDomains must be a non-empty array of trust domains/],
  ['mtls spiffe without domains', { mtls: {} }, /opts\.mtls\.trustDomains is required with identity 'spiffe'/],
  ['mtls allow', { mtls: { trustDomains: ['a'], allow: [] } }, /opts\.mtls\.allow must be a non-empty array of workload id patterns/],
  ['empty issuer list', { jwt: [] }, /opts\.jwt must name at least one issuer/],
  ['issuer not an object', { jwt: 'x' }, /opts\.jwt must be an object/],
  ['unknown issuer option', { jwt: { ...issuer, audiences: ['x'] } }, /opts\.jwt\.audiences is not an option/],
  ['issuer missing', { jwt: { ...issuer, issuer: '' } }, /opts\.jwt\.issuer must be a non-empty string/],
  ['audience wrong type', { jwt: { ...issuer, audience: [1] } }, /opts\.jwt\.audience must be a non-empty string or a non-empty array/],
  ['audience empty array', { jwt: { ...issuer, audience: [] } }, /opts\.jwt\.audience must be/],
  ['algorithms missing', { jwt: { ...issuer, algorithms: undefined } }, /opts\.jwt\.algorithms must be a non-empty array of RS256/],
  ['algorithm none', { jwt: { ...issuer, algorithms: ['none'] } }, /opts\.jwt\.algorithms: "none" is not one of/],
  ['algorithm HS256', { jwt: { ...issuer, algorithms: ['HS256'] } }, /opts\.jwt\.algorithms: "HS256" is an HMAC algorithm, refused unless the issuer has fastifyJwt and allowHmac: true \(whoever holds the shared secret can mint tokens\)/],
  ['HS256 with fastifyJwt but no opt-in', { jwt: { ...issuer, jwks: undefined, fastifyJwt: true, algorithms: ['HS256'] } }, /"HS256" is an HMAC algorithm, refused unless/],
  ['allowHmac without fastifyJwt', { jwt: { ...issuer, allowHmac: true, algorithms: ['HS256'] } }, /opts\.jwt\.allowHmac needs fastifyJwt: wsguard's own key sets never hold shared secrets/],
  ['allowHmac not boolean', { jwt: { ...issuer, jwks: undefined, fastifyJwt: true, allowHmac: 'yes' } }, /opts\.jwt\.allowHmac must be a boolean/],
  ['allowHmac with a public-key algorithm', { jwt: { ...issuer, jwks: undefined, fastifyJwt: true, allowHmac: true, algorithms: ['HS256', 'RS256'] } }, /opts\.jwt\.algorithms: "RS256" is a public-key algorithm; with allowHmac: true every algorithm must be one of HS256, HS384, HS512 \(a key usable for both invites key confusion\)/],
  ['allowHmac, algorithm none', { jwt: { ...issuer, jwks: undefined, fastifyJwt: true, allowHmac: true, algorithms: ['none'] } }, /opts\.jwt\.algorithms: "none" is not one of HS256, HS384, HS512/],
  ['allowHmac, no algorithms', { jwt: { ...issuer, jwks: undefined, fastifyJwt: true, allowHmac: true, algorithms: [] } }, /opts\.jwt\.algorithms must be a non-empty array of HS256, HS384, HS512/],
  ['fastifyJwt false', { jwt: { ...issuer, jwks: undefined, fastifyJwt: false } }, /opts\.jwt\.fastifyJwt must be true or \{ namespace\?, jwtVerify\? \}/],
  ['fastifyJwt unknown key', { jwt: { ...issuer, jwks: undefined, fastifyJwt: { name: 'a' } } }, /opts\.jwt\.fastifyJwt\.name is not an option/],
  ['fastifyJwt namespace empty', { jwt: { ...issuer, jwks: undefined, fastifyJwt: { namespace: '' } } }, /opts\.jwt\.fastifyJwt\.namespace must be a non-empty string/],
  ['fastifyJwt jwtVerify not a string', { jwt: { ...issuer, jwks: undefined, fastifyJwt: { jwtVerify: 1 } } }, /opts\.jwt\.fastifyJwt\.jwtVerify must be a non-empty string/],
  ['fastifyJwt and jwks', { jwt: { ...issuer, fastifyJwt: true } }, /opts\.jwt needs exactly one of discovery: true, jwksUri, jwks, fastifyJwt/],
  ['fastifyJwt with a key-set option', { jwt: { ...issuer, jwks: undefined, fastifyJwt: true, jwksTimeoutMs: 100 } }, /opts\.jwt\.jwksTimeoutMs applies to key sets wsguard fetches; with fastifyJwt, @fastify\/jwt's secret or key function provides the keys/],
  ['verifyTimeoutMs without fastifyJwt', { jwt: { ...issuer, verifyTimeoutMs: 100 } }, /opts\.jwt\.verifyTimeoutMs needs fastifyJwt/],
  ['verifyTimeoutMs zero', { jwt: { ...issuer, jwks: undefined, fastifyJwt: true, verifyTimeoutMs: 0 } }, /opts\.jwt\.verifyTimeoutMs must be an integer, 1 or more/],
  ['verifyTimeoutMs past what a timer waits', { jwt: { ...issuer, jwks: undefined, fastifyJwt: true, verifyTimeoutMs: 2 ** 31 } }, /opts\.jwt\.verifyTimeoutMs must be at most 2147483647 ms \(about 24\.8 days, the longest a Node timer waits\)/],
  ['jwksTimeoutMs past what a timer waits', { jwt: { ...issuer, jwksTimeoutMs: 2 ** 31 } }, /opts\.jwt\.jwksTimeoutMs must be at most 2147483647 ms/],
  ['no key source', { jwt: { ...issuer, jwks: undefined } }, /opts\.jwt needs exactly one of discovery: true, jwksUri, jwks, fastifyJwt/],
  ['two key sources', { jwt: { ...issuer, jwksUri: 'https://idp.test/jwks' } }, /needs exactly one of/],
  ['discovery on plain http', { jwt: { ...issuer, jwks: undefined, discovery: true, issuer: 'http://idp.test' } }, /opts\.jwt\.issuer must be an https: URL \(http: only on a loopback host\)/],
  ['discovery issuer not a URL', { jwt: { ...issuer, jwks: undefined, discovery: true, issuer: 'idp' } }, /opts\.jwt\.issuer must be an absolute URL/],
  ['jwksUri on plain http', { jwt: { ...issuer, jwks: undefined, jwksUri: 'http://idp.test/jwks' } }, /opts\.jwt\.jwksUri must be an https: URL/],
  ['jwksUri with a user and password', { jwt: { ...issuer, jwks: undefined, jwksUri: 'https://svc:pw@idp.test/jwks' } }, /opts\.jwt\.jwksUri must not carry a user or password \(user:password@\): fetch refuses such URLs/],
  ['discovery issuer with a user', { jwt: { ...issuer, jwks: undefined, discovery: true, issuer: 'https://svc@idp.test' } }, /opts\.jwt\.issuer must not carry a user or password/],
  ['an issuer with a password, keys from jwksUri', { jwt: { ...issuer, jwks: undefined, jwksUri: 'https://idp.test/jwks', issuer: 'https://svc:hunter2@idp.test' } }, /opts\.jwt\.issuer must not carry a user or password/],
  ['jwks without keys', { jwt: { ...issuer, jwks: {} } }, /opts\.jwt\.jwks must be \{ keys: \[\.\.\.\] \}/],
  ['discovery not boolean', { jwt: { ...issuer, jwks: undefined, discovery: 'yes' } }, /opts\.jwt\.discovery must be a boolean/],
  ['negative tolerance', { jwt: { ...issuer, clockToleranceMs: -1 } }, /opts\.jwt\.clockToleranceMs must be a finite number of milliseconds, 0 or more/],
  ['NaN max age', { jwt: { ...issuer, maxTokenAgeMs: Number.NaN } }, /opts\.jwt\.maxTokenAgeMs must be a finite number/],
  ['typ empty', { jwt: { ...issuer, typ: '' } }, /opts\.jwt\.typ must be a non-empty string/],
  ['claims not TypeBox', { jwt: { ...issuer, claims: { type: 'object' } } }, /opts\.jwt\.claims must be a TypeBox schema/],
  ['kind not a function', { jwt: { ...issuer, kind: 'user' } }, /opts\.jwt\.kind must be a function/],
  ['timeout zero', { jwt: { ...issuer, jwksTimeoutMs: 0 } }, /opts\.jwt\.jwksTimeoutMs must be an integer, 1 or more/],
  ['second issuer named in path', { jwt: [issuer, { ...issuer, issuer: 'https://b.test', audience: 5 }] }, /opts\.jwt\[1\]\.audience must be/],
  ['same issuer twice', { jwt: [issuer, issuer] }, /issuer "https:\/\/idp\.test" is listed twice/],
  ['carriers empty', { jwt: issuer, carriers: [] }, /opts\.carriers must be a non-empty array of header, subprotocol, cookie, query/],
  ['unknown carrier', { jwt: issuer, carriers: ['header', 'body'] }, /opts\.carriers: "body" is not one of/],
  ['cookie without origins', { jwt: issuer, carriers: ['cookie'] }, /cookie, which needs opts\.allowedOrigins/],
  ['origins empty', { jwt: issuer, allowedOrigins: [] }, /opts\.allowedOrigins must be a non-empty array of origins or a function/],
  ['origin with path', { jwt: issuer, allowedOrigins: ['https://app.test/x'] }, /opts\.allowedOrigins: "https:\/\/app\.test\/x" is not an origin/],
  ['origin not a URL', { jwt: issuer, allowedOrigins: ['app.test'] }, /opts\.allowedOrigins: "app\.test" is not an origin/],
  ['origin not a string', { jwt: issuer, allowedOrigins: [7] }, /opts\.allowedOrigins\[\] must be a non-empty string/],
  ['cookie name invalid', { jwt: issuer, cookieName: 'a b' }, /opts\.cookieName must be a cookie name token/],
  ['query parameter empty', { jwt: issuer, queryParameter: '' }, /opts\.queryParameter must be a non-empty string/],
  ['realm with quote', { jwt: issuer, realm: 'a"b' }, /opts\.realm must not contain quotes/],
  ['max token bytes tiny', { jwt: issuer, maxTokenBytes: 3 }, /opts\.maxTokenBytes must be an integer, 16 or more/],
  ['cache size negative', { jwt: issuer, verifiedTokenCacheSize: -1 }, /opts\.verifiedTokenCacheSize must be an integer, 0 or more/],
  ['requireOrigin not boolean', { jwt: issuer, requireOrigin: 1 }, /opts\.requireOrigin must be a boolean/],
  ['clock without now', { jwt: issuer, clock: {} }, /opts\.clock must be an object with a now\(\) method/],
  ['ticket carrier without tickets', { jwt: issuer, carriers: ['ticket'] }, /opts\.carriers includes 'ticket', which needs opts\.tickets/],
  ['tickets without the ticket carrier', { jwt: issuer, tickets: {} }, /opts\.tickets issues tickets that no route would take: add 'ticket' to opts\.carriers/],
  ['tickets not an object', { jwt: issuer, carriers: ['ticket'], tickets: true }, /opts\.tickets must be an object/],
  ['tickets unknown key', { jwt: issuer, carriers: ['ticket'], tickets: { ttl: 1000 } }, /opts\.tickets\.ttl is not an option/],
  ['tickets path', { jwt: issuer, carriers: ['ticket'], tickets: { path: 'ws-ticket' } }, /opts\.tickets\.path must start with \//],
  ['tickets path empty', { jwt: issuer, carriers: ['ticket'], tickets: { path: '' } }, /opts\.tickets\.path must be a non-empty string/],
  ['tickets ttl too short', { jwt: issuer, carriers: ['ticket'], tickets: { ttlMs: 999 } }, /opts\.tickets\.ttlMs must be an integer, 1000 or more/],
  ['tickets ttl too long', { jwt: issuer, carriers: ['ticket'], tickets: { ttlMs: 300_001 } }, /opts\.tickets\.ttlMs must be at most 300000 \(5 minutes\)/],
  ['tickets ttl not an integer', { jwt: issuer, carriers: ['ticket'], tickets: { ttlMs: 1500.5 } }, /opts\.tickets\.ttlMs must be an integer/],
  ['tickets store', { jwt: issuer, carriers: ['ticket'], tickets: { store: { issue () {} } } }, /opts\.tickets\.store must be a TicketStore \(issue, consume\)/],
  ['tickets per principal zero', { jwt: issuer, carriers: ['ticket'], tickets: { maxPerPrincipal: 0 } }, /opts\.tickets\.maxPerPrincipal must be an integer, 1 or more/],
  ['tickets per principal fractional', { jwt: issuer, carriers: ['ticket'], tickets: { maxPerPrincipal: 2.5 } }, /opts\.tickets\.maxPerPrincipal must be an integer, 1 or more/],
  ['tickets per principal too many', { jwt: issuer, carriers: ['ticket'], tickets: { maxPerPrincipal: 1001 } }, /opts\.tickets\.maxPerPrincipal must be at most 1000/],
  ['tickets store not an object', { jwt: issuer, carriers: ['ticket'], tickets: { store: 'redis' } }, /opts\.tickets\.store must be a TicketStore/],
  ['tickets principalFor', { jwt: issuer, carriers: ['ticket'], tickets: { principalFor: 'session' } }, /opts\.tickets\.principalFor must be a function/],
  ['tickets principalFor without origins', { jwt: issuer, carriers: ['ticket'], tickets: { principalFor: () => null } }, /opts\.tickets\.principalFor reads the app's own session, which needs opts\.allowedOrigins/],
  ['tickets with no way to authenticate', { mtls: { identity: () => undefined }, carriers: ['ticket'], tickets: {} }, /opts\.tickets needs opts\.jwt \(a Bearer token gets a ticket\) or opts\.tickets\.principalFor/],
  ['tickets store timeout', { jwt: issuer, carriers: ['ticket'], tickets: { storeTimeoutMs: 0 } }, /opts\.tickets\.storeTimeoutMs must be an integer, 1 or more/],
  ['tickets store timeout past what a timer waits', { jwt: issuer, carriers: ['ticket'], tickets: { storeTimeoutMs: 2 ** 31 } }, /opts\.tickets\.storeTimeoutMs must be at most 2147483647 ms/],
  ['subprotocol prefix overlapping tickets', { jwt: issuer, carriers: ['ticket'], tickets: {}, subprotocolPrefix: 'ticket.' }, /opts\.subprotocolPrefix must not overlap the ticket carrier's "ticket\."/],
  ['subprotocol prefix a prefix of tickets', { jwt: issuer, carriers: ['ticket'], tickets: {}, subprotocolPrefix: 'Tick' }, /opts\.subprotocolPrefix must not overlap/],
  ['subprotocol prefix longer than tickets', { jwt: issuer, carriers: ['ticket'], tickets: {}, subprotocolPrefix: 'ticket.bearer.' }, /opts\.subprotocolPrefix must not overlap/],
  ['query parameter of tickets', { jwt: issuer, carriers: ['ticket'], tickets: {}, queryParameter: 'ticket' }, /opts\.queryParameter must not be the ticket carrier's "ticket"/],
  ['browserRejection', { jwt: issuer, browserRejection: 'close-all' }, /opts\.browserRejection must be 'http' or 'close'/],
  ['route method ticket without tickets', { jwt: issuer, route: { methods: ['ticket'] } }, /config\.auth\.methods: 'ticket' needs opts\.tickets/]
]

for (const [name, given, message] of cases) {
  t.test(`registration fails: ${name}`, async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(websocket)
    // `route`: the route's config.auth, for the checks made when a route is added
    const { route, ...opts } = given as { route?: unknown }
    await t.rejects(async () => {
      await app.register(authHandshake, opts as AuthHandshakeOptions)
      if (route !== undefined) app.get('/r', { websocket: true, config: { auth: route as never } }, () => {})
      await app.ready()
    }, { code: 'WSG_INVALID_OPTION', statusCode: 500, message })
  })
}

t.test('options that are not an object are refused', async (t) => {
  t.throws(() => validateOptions(null), { code: 'WSG_INVALID_OPTION', message: 'Invalid option: opts must be an object' })
})

t.test('defaults are applied and options are copied, not kept', async (t) => {
  const input = { jwt: { ...issuer, jwks: jwks(key) } }
  const config = validateOptions(input)
  t.same([...config.carriers], ['header', 'subprotocol'])
  t.equal(config.cookieName, 'access_token')
  t.equal(config.queryParameter, 'access_token')
  t.equal(config.subprotocolPrefix, 'bearer.')
  t.equal(config.realm, 'wsguard')
  t.equal(config.maxTokenBytes, 8192)
  t.equal(config.requireOrigin, false)
  t.equal(config.redactLogs, true)
  t.equal(config.verifiedTokenCacheSize, 1024)
  t.equal(config.verifiedTokenCacheTtlMs, 600_000)
  t.equal(config.tickets, undefined)
  t.equal(config.browserRejection, 'http')
  const [iss] = config.issuers
  t.same(iss?.audiences, ['feed-api'])
  t.equal(iss?.clockToleranceMs, 5_000)
  t.equal(iss?.jwksCooldownMs, 30_000)
  t.equal(iss?.jwksMaxAgeMs, 600_000)
  t.equal(iss?.jwksTimeoutMs, 5_000)
  t.equal(iss?.maxTokenAgeMs, undefined)
  t.equal(iss?.fastifyJwt, undefined)
  t.equal(iss?.verifyTimeoutMs, 5_000)
  input.jwt.jwks.keys.length = 0
  t.equal(iss?.jwks?.keys.length, 1, 'the key set was copied')
})

t.test('accepted forms: several issuers, typ normalised, predicate origins, TypeBox claims', async (t) => {
  const config = validateOptions({
    jwt: [issuer, { ...issuer, issuer: 'https://b.test', audience: ['a', 'b', 'a'], typ: 'application/AT+JWT', claims: Type.Object({}), kind: () => 'user' }],
    allowedOrigins: (origin: string) => origin === 'https://x.test',
    subprotocolPrefix: 'Token.',
    realm: 'feeds',
    clock: { now: () => 0 }
  })
  t.same(config.issuers[1]?.audiences, ['a', 'b'])
  t.equal(config.issuers[1]?.typ, 'at+jwt')
  t.equal(config.subprotocolPrefix, 'token.')
  t.equal(config.realm, 'feeds')
  t.equal(config.allowedOrigins?.('https://x.test'), true)
  t.equal(config.clock.now(), 0)
  const list = validateOptions({ jwt: issuer, allowedOrigins: ['https://App.test:8443', 'http://localhost:3000/'], carriers: ['cookie', 'header'] })
  t.equal(list.allowedOrigins?.('https://app.test:8443'), true)
  t.equal(list.allowedOrigins?.('HTTP://LOCALHOST:3000'), true)
  t.equal(list.allowedOrigins?.('https://app.test'), false)
})

t.test('auth-handshake needs @fastify/websocket first', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(authHandshake, { jwt: issuer } as AuthHandshakeOptions) }, /@fastify\/websocket/)
})

t.test('fastifyJwt forms: true, a namespace and a renamed method, HMAC with the opt-in', async (t) => {
  const { jwks: _jwks, ...base } = issuer
  const config = validateOptions({
    jwt: [
      { ...base, fastifyJwt: true },
      { ...base, issuer: 'https://b.test', fastifyJwt: { namespace: 'idp', jwtVerify: 'idpVerify' }, verifyTimeoutMs: 250 },
      { ...base, issuer: 'https://c.test', fastifyJwt: {}, allowHmac: true, algorithms: ['HS256', 'HS512', 'HS256'] }
    ]
  })
  t.same(config.issuers.map((i) => i.fastifyJwt), [
    { namespace: undefined, jwtVerify: undefined },
    { namespace: 'idp', jwtVerify: 'idpVerify' },
    { namespace: undefined, jwtVerify: undefined }
  ])
  t.same(config.issuers.map((i) => i.verifyTimeoutMs), [5_000, 250, 5_000])
  t.same(config.issuers[2]?.algorithms, ['HS256', 'HS512'])
  t.same(validateOptions({ jwt: { ...base, fastifyJwt: true, allowHmac: false } }).issuers[0]?.algorithms, ['ES256'], 'allowHmac: false is the default, said out loud')
})

t.test('ticket defaults: /ws-ticket, 30 s, a memory store on the plugin\'s clock, 2 s for the store', async (t) => {
  const { MemoryTicketStore } = await import('../src/index.js')
  const clock = { now: () => 1_000 }
  const config = validateOptions({ jwt: issuer, carriers: ['ticket'], tickets: {}, browserRejection: 'close', clock })
  t.match(config.tickets, { path: '/ws-ticket', ttlMs: 30_000, storeTimeoutMs: 2_000, principalFor: undefined })
  t.ok(config.tickets?.store instanceof MemoryTicketStore)
  t.equal(config.browserRejection, 'close')
  const store = { issue () {}, consume () { return undefined } }
  const custom = validateOptions({ jwt: issuer, carriers: ['ticket'], tickets: { path: '/tickets', ttlMs: 300_000, store, storeTimeoutMs: 50 }, browserRejection: 'http' })
  t.match(custom.tickets, { path: '/tickets', ttlMs: 300_000, storeTimeoutMs: 50 })
  t.equal(custom.tickets?.store, store, 'the store given')
})
