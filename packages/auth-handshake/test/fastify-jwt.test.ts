import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import fastifyJwt from '@fastify/jwt'
import buildGetJwks from 'get-jwks'
import { Type } from '@sinclair/typebox'
import { claimsFor, FakeClock, generateKey, hmacToken, jwks, mintToken, startJwksServer, type TestKey } from '@wsguard/testing'
import { authHandshake, requirePrincipal, type AuthHandshakeOptions, type JwtIssuerOptions } from '../src/index.js'
import { buildApp, connect, type ConnectOptions } from './helpers.js'

// auth-handshake verifying with the app's registered @fastify/jwt: its static key or its key
// function (get-jwks), its namespace, then every check of its own on top.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const rsa = generateKey('RS256', 'rsa-1')
const ec = generateKey('ES256', 'ec-1')
const pem = (key: TestKey): string => key.publicKey.export({ type: 'spki', format: 'pem' }) as string
const bearer = (token: string): ConnectOptions => ({ headers: { authorization: `Bearer ${token}` } })
const body = (res: Awaited<ReturnType<typeof connect>>): { code?: string } => res.open ? {} : JSON.parse(res.body)
const via = (issuer: Partial<JwtIssuerOptions>): AuthHandshakeOptions => ({
  jwt: { issuer: ISS, audience: AUD, algorithms: ['RS256'], fastifyJwt: true, ...issuer } as JwtIssuerOptions
})
const withJwt = (options: Record<string, unknown>) => async (app: FastifyInstance): Promise<void> => {
  await app.register(fastifyJwt, options as never)
}

t.test('RS256 with @fastify/jwt\'s static public key: the handshake opens with wsguard\'s principal, request.user untouched', async (t) => {
  let user: unknown = 'unset'
  const { url } = await buildApp(t, via({}), {
    before: withJwt({ secret: { public: pem(rsa) } }),
    routes: (app) => app.get('/who', { websocket: true }, (socket, req) => {
      user = req.user
      socket.send(JSON.stringify({ id: requirePrincipal(req).id, method: requirePrincipal(req).method }))
    })
  })
  const token = mintToken(rsa, { ...claimsFor(ISS, AUD, 'alice'), scope: 'feed:read' })
  const res = await connect(t, url, { ...bearer(token), path: '/who' })
  t.same(res.open && res.message, { id: 'alice', method: 'jwt' })
  t.equal(user, null, '@fastify/jwt\'s request.user is put back as it was: request.principal is the identity')
  // Found in the subprotocol carrier: @fastify/jwt never looks for an Authorization header.
  const sub = await connect(t, url, { protocols: ['app.v1', `bearer.${token}`] })
  t.match(sub.open && sub.message, { principal: { id: 'alice', issuer: ISS, scopes: ['feed:read'] } })
})

t.test('ES256 through @fastify/jwt\'s key function (get-jwks), and its failures', async (t) => {
  const idp = await startJwksServer(jwks(ec))
  t.teardown(() => idp.close())
  const getJwks = buildGetJwks({ jwksPath: '/jwks', ttl: 60_000 })
  let keyLookups = 0
  const clock = new FakeClock()
  const { url, logs } = await buildApp(t, { ...via({ issuer: idp.issuer, algorithms: ['ES256'] }), clock }, {
    before: withJwt({
      decode: { complete: true },
      secret: async (_request: unknown, token: { header: { kid: string, alg: string }, payload: { iss: string } }) => {
        keyLookups++
        return await getJwks.getPublicKey({ kid: token.header.kid, alg: token.header.alg, domain: token.payload.iss })
      }
    })
  })
  const used: string[] = []
  const token = (key: TestKey, extra: Record<string, unknown> = {}): string => {
    used.push(mintToken(key, { ...claimsFor(idp.issuer, AUD, 'alice', clock.now()), ...extra }))
    return used.at(-1) as string
  }
  t.match(await connect(t, url, bearer(token(ec))), { open: true, message: { principal: { id: 'alice', issuer: idp.issuer } } })
  t.equal(idp.hits.jwks, 1)

  const stranger = await connect(t, url, bearer(token(generateKey('ES256', 'not-published'))))
  t.equal(!stranger.open && stranger.status, 401, 'a kid the key set does not have')
  t.equal(body(stranger).code, 'WSG_TOKEN_INVALID')
  t.match(!stranger.open && stranger.headers['www-authenticate'], /error_description="The token was signed with an unknown key"/)

  // A token that cannot pass wsguard's own checks never reaches the key function.
  const before = keyLookups
  const expired = await connect(t, url, bearer(token(ec, { exp: Math.floor(clock.now() / 1000) - 60 })))
  t.equal(body(expired).code, 'WSG_TOKEN_EXPIRED')
  const foreign = await connect(t, url, bearer(mintToken(ec, claimsFor('https://elsewhere.test', AUD, 'alice', clock.now()))))
  t.equal(body(foreign).code, 'WSG_TOKEN_INVALID', 'an issuer wsguard does not trust: the key function is never asked to fetch its keys')
  t.equal(keyLookups, before, 'no key lookup for tokens refused before the signature')

  // The key set cannot be fetched: 503 (retry later), never 401 (discard the token), logged with its cause.
  const warnings = (): string[] => logs.lines.filter((l) => l.includes('@fastify/jwt could not verify'))
  idp.failWith(500, '{"error":"down"}')
  const down = await connect(t, url, bearer(token(generateKey('ES256', 'rotated-in'))))
  t.equal(!down.open && down.status, 503)
  t.equal(body(down).code, 'WSG_UNAVAILABLE')
  t.ok(!down.open && down.headers['retry-after'] !== undefined, 'with Retry-After')
  t.match(warnings(), [/"error":\{"message":"JWKS request failed","code":"JWKS_REQUEST_FAILED"\}/])
  // The IdP gone: the warning says why in words (connection refused), where fetch alone says "fetch failed".
  await idp.close()
  clock.advance(30_000)
  const gone = await connect(t, url, bearer(token(generateKey('ES256', 'rotated-again'))))
  t.equal(body(gone).code, 'WSG_UNAVAILABLE')
  t.match(warnings()[1], /"error":\{"message":"fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+","code":"ECONNREFUSED"\}/)
  t.notOk(used.some((tok) => logs.text().includes(tok)), 'no token in any log line')
})

t.test('HMAC: refused unless allowHmac, and then the shared secret verifies', async (t) => {
  const secret = 'a-shared-secret-of-the-http-api-0123456789'
  const hs = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string => hmacToken(header, claims, secret)
  // An issuer configured for public-key algorithms refuses HS256 before asking @fastify/jwt.
  const rs = await buildApp(t, via({}), { before: withJwt({ secret }) })
  const refused = await connect(t, rs.url, bearer(hs(claimsFor(ISS, AUD, 'alice'))))
  t.equal(body(refused).code, 'WSG_TOKEN_INVALID')
  t.match(!refused.open && refused.headers['www-authenticate'], /The token algorithm is not accepted/)
  // Listing HS256 without the opt-in fails at registration, naming the risk.
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(fastifyJwt, { secret })
  await t.rejects(async () => { await app.register(authHandshake, via({ algorithms: ['HS256' as never] })) }, {
    code: 'WSG_INVALID_OPTION', message: /"HS256" is an HMAC algorithm, refused unless the issuer has fastifyJwt and allowHmac: true \(whoever holds the shared secret can mint tokens\)/
  })
  // With the opt-in, the shared secret verifies and every other check still applies.
  const opted = await buildApp(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['HS256'], fastifyJwt: true, allowHmac: true } }, { before: withJwt({ secret }) })
  t.match(await connect(t, opted.url, bearer(hs(claimsFor(ISS, AUD, 'alice')))), { open: true, message: { principal: { id: 'alice' } } })
  t.equal(body(await connect(t, opted.url, bearer(hs(claimsFor(ISS, 'http-api', 'alice'))))).code, 'WSG_TOKEN_INVALID', 'a token for the HTTP API is no socket credential')
  t.equal(body(await connect(t, opted.url, bearer(hmacToken({ alg: 'HS256' }, claimsFor(ISS, AUD, 'alice'), 'another-secret')))).code, 'WSG_TOKEN_INVALID', 'another secret')
  t.equal(body(await connect(t, opted.url, bearer(hs(claimsFor(ISS, AUD, 'alice'), { alg: 'HS512' })))).code, 'WSG_TOKEN_INVALID', 'an HMAC algorithm not listed')
})

t.test('a namespace, a renamed method and decorator: the named registration verifies, another\'s key does not', async (t) => {
  let account: unknown = 'unset'
  const other = generateKey('RS256', 'other-1')
  const { url } = await buildApp(t, via({ fastifyJwt: { namespace: 'idp', jwtVerify: 'idpVerify' } }), {
    before: async (app) => {
      await app.register(fastifyJwt, { namespace: 'idp', jwtVerify: 'idpVerify', decoratorName: 'account', secret: { public: pem(rsa) } } as never)
      await app.register(fastifyJwt, { namespace: 'partners', secret: { public: pem(other) } } as never)
    },
    routes: (app) => app.get('/who', { websocket: true }, (socket, req) => {
      account = (req as unknown as { account: unknown }).account
      socket.send('{}')
    })
  })
  t.equal((await connect(t, url, { ...bearer(mintToken(rsa, claimsFor(ISS, AUD, 'alice'))), path: '/who' })).open, true)
  t.equal(account, null, 'the renamed decorator is put back too')
  const wrong = await connect(t, url, bearer(mintToken(other, claimsFor(ISS, AUD, 'alice'))))
  t.equal(!wrong.open && wrong.status, 401)
  t.match(!wrong.open && wrong.headers['www-authenticate'], /error_description="The token did not pass verification"/)
})

t.test('every wsguard check applies on top of @fastify/jwt: tokens it alone accepts are refused', async (t) => {
  const claims = Type.Object({ tenant: Type.String() })
  const { url, app } = await buildApp(t, via({ typ: 'at+jwt', claims, maxTokenAgeMs: 3_600_000 }), {
    before: withJwt({ secret: { public: pem(rsa) } }),
    routes: (app) => {
      app.get('/orders', { websocket: true, config: { auth: { scopes: ['orders:read'], allowedScopes: ['orders:read'] } } }, (socket) => { socket.send('{}') })
      // What @fastify/jwt alone says of the same token, as an HTTP route of the app would.
      app.post('/http-verify', async (req) => { await req.jwtVerify(); return 'accepted' })
    }
  })
  const good = { ...claimsFor(ISS, AUD, 'alice'), tenant: 'acme', scope: 'orders:read' }
  const at = { header: { typ: 'at+jwt' } }
  const cases: Array<[string, string, string, string, RegExp?]> = [
    ['no exp (fast-jwt accepts it)', mintToken(rsa, { ...good, exp: undefined }, at), '/orders', 'WSG_TOKEN_INVALID', /has no expiry/],
    ['a token for the HTTP API (aud)', mintToken(rsa, { ...good, aud: 'http-api' }, at), '/orders', 'WSG_TOKEN_INVALID', /audience/],
    ['typ JWT, not at+jwt', mintToken(rsa, good), '/orders', 'WSG_TOKEN_INVALID', /type is not accepted/],
    ['claims fail the schema', mintToken(rsa, { ...good, tenant: 7 }, at), '/orders', 'WSG_TOKEN_INVALID', /schema/],
    ['PS256: the key fits it, wsguard lists RS256 only', mintToken(rsa, good, { header: { alg: 'PS256', typ: 'at+jwt' } }), '/orders', 'WSG_TOKEN_INVALID', /algorithm/],
    ['too old (maxTokenAgeMs)', mintToken(rsa, { ...good, iat: Math.floor(Date.now() / 1000) - 7200 }, at), '/orders', 'WSG_TOKEN_INVALID', /too old/],
    ['a key URL in the header (jku)', mintToken(rsa, good, { header: { typ: 'at+jwt', jku: 'https://evil.test/jwks' } }), '/orders', 'WSG_TOKEN_INVALID', /names or carries a key/],
    ['a scope the route does not allow', mintToken(rsa, { ...good, scope: 'orders:read admin' }, at), '/orders', 'WSG_OVERSCOPED_TOKEN'],
    ['a scope the route requires is missing', mintToken(rsa, { ...good, scope: 'feed:read' }, at), '/orders', 'WSG_INSUFFICIENT_SCOPE'],
    ['bound to a client certificate it did not present', mintToken(rsa, { ...good, cnf: { 'x5t#S256': 'abc' } }, at), '/orders', 'WSG_CERT_REQUIRED']
  ]
  for (const [name, token, path, code, description] of cases) {
    const verdict = await app.inject({ method: 'POST', url: '/http-verify', headers: { authorization: `Bearer ${token}` } })
    t.equal(verdict.body, 'accepted', `@fastify/jwt alone accepts: ${name}`)
    const res = await connect(t, url, { ...bearer(token), path })
    t.equal(body(res).code, code, `wsguard refuses: ${name}`)
    if (description !== undefined) t.match(!res.open && res.headers['www-authenticate'], description)
  }
  t.equal((await connect(t, url, { ...bearer(mintToken(rsa, good, at)), path: '/orders' })).open, true, 'the good token opens')
})

t.test('@fastify/jwt\'s own checks apply too: its verify options and its trusted() hook', async (t) => {
  const { url } = await buildApp(t, via({}), {
    before: withJwt({
      secret: { public: pem(rsa) },
      verify: { allowedSub: ['alice', 'bob'] },
      trusted: (_request: unknown, decoded: { jti?: string }) => decoded.jti !== 'blocked'
    })
  })
  t.equal((await connect(t, url, bearer(mintToken(rsa, claimsFor(ISS, AUD, 'alice'))))).open, true)
  t.equal(body(await connect(t, url, bearer(mintToken(rsa, claimsFor(ISS, AUD, 'mallory'))))).code, 'WSG_TOKEN_INVALID', 'allowedSub')
  t.equal(body(await connect(t, url, bearer(mintToken(rsa, { ...claimsFor(ISS, AUD, 'alice'), jti: 'blocked' })))).code, 'WSG_TOKEN_INVALID', 'trusted() said no')
  // fast-jwt's own clock (no tolerance) refuses what wsguard's 5 s tolerance would let through.
  const justExpired = mintToken(rsa, { ...claimsFor(ISS, AUD, 'alice'), exp: Math.floor(Date.now() / 1000) - 1 })
  t.equal(body(await connect(t, url, bearer(justExpired))).code, 'WSG_TOKEN_EXPIRED')
  const notYet = mintToken(rsa, { ...claimsFor(ISS, AUD, 'alice'), nbf: Math.floor(Date.now() / 1000) + 3 })
  t.equal(body(await connect(t, url, bearer(notYet))).code, 'WSG_TOKEN_INVALID', 'nbf within wsguard\'s tolerance, not fast-jwt\'s')
})

t.test('a refresh verifies through @fastify/jwt too, with the socket\'s request; without a request it cannot', async (t) => {
  const { app } = await buildApp(t, via({}), {
    before: withJwt({ secret: { public: pem(rsa) } }),
    routes: (app) => app.get('/refresh', { websocket: true, config: { auth: { scopes: ['feed:read'] } } }, (socket, req) => {
      const next = mintToken(rsa, { ...claimsFor(ISS, AUD, 'alice'), scope: 'feed:read', jti: 'second' })
      const narrow = mintToken(rsa, claimsFor(ISS, AUD, 'alice'))
      Promise.all([app.wsguardAuth.authenticate(next, req), app.wsguardAuth.authenticate(narrow, req)])
        .then(([a, b]) => { socket.send(JSON.stringify({ a: a.ok && a.principal.tokenId, b: !b.ok && b.code, user: req.user })) }, () => {})
    })
  })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const res = await connect(t, url, { ...bearer(mintToken(rsa, { ...claimsFor(ISS, AUD, 'alice'), scope: 'feed:read' })), path: '/refresh' })
  t.same(res.open && res.message, { a: 'second', b: 'WSG_INSUFFICIENT_SCOPE', user: null })
  await t.rejects(app.wsguardAuth.authenticate(mintToken(rsa, claimsFor(ISS, AUD, 'alice'))), {
    name: 'TypeError', message: /wsguardAuth\.authenticate\(token\) needs the request for issuer https:\/\/idp\.test, which @fastify\/jwt verifies/
  })
  t.equal((await app.wsguardAuth.authenticate('garbage')).ok, false, 'a token refused before any verifier needs no request')
})

t.test('a key function that fails or never answers: 503 after verifyTimeoutMs, one warning per 30 s, no token logged', async (t) => {
  const clock = new FakeClock()
  let mode: 'throw' | 'throw-at-once' | 'hang' = 'throw'
  let late: (() => void) | undefined
  const token = mintToken(rsa, claimsFor(ISS, AUD, 'alice'))
  const { url, logs } = await buildApp(t, { ...via({ verifyTimeoutMs: 150 }), clock }, {
    before: withJwt({
      secret: (_request: unknown, _token: unknown, cb: (err: Error | null, key?: string) => void) => {
        if (mode === 'throw') cb(Object.assign(new Error(`vault sealed while fetching a key for ${token}`), { code: 'EVAULT' }))
        else if (mode === 'throw-at-once') throw new Error('key function bug')
        else late = () => { cb(null, pem(rsa)) } // 'hang': answers only once the handshake was refused
      }
    })
  })
  const warnings = (): string[] => logs.lines.filter((l) => l.includes('@fastify/jwt could not verify'))
  const first = await connect(t, url, bearer(token))
  t.equal(!first.open && first.status, 503)
  t.equal(body(first).code, 'WSG_UNAVAILABLE')
  t.equal(warnings().length, 1)
  t.match(warnings()[0], /"error":\{"message":"vault sealed while fetching a key for \[REDACTED\]","code":"EVAULT"\}/)
  t.equal(body(await connect(t, url, bearer(token))).code, 'WSG_UNAVAILABLE')
  t.equal(warnings().length, 1, 'not logged again within 30 s')
  clock.advance(30_000)
  mode = 'hang'
  const started = Date.now()
  const hung = await connect(t, url, bearer(token))
  t.equal(body(hung).code, 'WSG_UNAVAILABLE', 'no answer: refused, not left hanging')
  t.ok(Date.now() - started >= 100, 'after verifyTimeoutMs')
  t.equal(warnings().length, 2)
  t.match(warnings()[1], /"error":\{"message":"no answer within 150 ms","code":"ETIMEDOUT"\}/)
  late?.() // a late answer changes nothing
  clock.advance(30_000)
  mode = 'throw-at-once'
  t.equal(body(await connect(t, url, bearer(token))).code, 'WSG_UNAVAILABLE', 'a key function that throws instead of calling back')
  t.match(warnings()[2], /"error":\{"message":"key function bug"\}/)
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})

t.test('registration fails, naming the option, when the @fastify/jwt it names is not there', async (t) => {
  const cases: Array<[string, ((app: FastifyInstance) => Promise<void>) | undefined, AuthHandshakeOptions, RegExp]> = [
    ['not registered', undefined, via({}), /opts\.jwt\.fastifyJwt: @fastify\/jwt is not registered where @wsguard\/auth-handshake is \(register it first, in the same context or a parent\)/],
    ['an unknown namespace', withJwt({ namespace: 'idp', secret: 'x' }), via({ fastifyJwt: { namespace: 'partners' } }), /opts\.jwt\.fastifyJwt\.namespace: @fastify\/jwt has no namespace "partners"/],
    ['a namespace that is a method of the registration', withJwt({ secret: { public: pem(rsa) } }), via({ fastifyJwt: { namespace: 'verify' } }), /has no namespace "verify"/],
    ['namespaces only', withJwt({ namespace: 'idp', secret: 'x' }), via({}), /opts\.jwt\.fastifyJwt: @fastify\/jwt is registered with namespaces only \(idp\): name one with fastifyJwt: \{ namespace \}/],
    ['a renamed method not named', withJwt({ namespace: 'idp', jwtVerify: 'idpVerify', secret: 'x' }), via({ fastifyJwt: { namespace: 'idp' } }), /opts\.jwt\.fastifyJwt: request\.idpJwtVerify is not decorated; if @fastify\/jwt was registered with a jwtVerify option, give the same name as fastifyJwt\.jwtVerify/],
    ['algorithms it never allows', withJwt({ secret: async () => pem(rsa), verify: { algorithms: ['ES256'] } }), via({}), /opts\.jwt\.algorithms: @fastify\/jwt's verify\.algorithms \(ES256\) allows none of RS256/],
    ['second issuer named by index', withJwt({ namespace: 'idp', secret: 'x' }), { jwt: [{ issuer: 'https://a.test', audience: AUD, algorithms: ['ES256'], jwks: jwks(ec) }, { issuer: ISS, audience: AUD, algorithms: ['RS256'], fastifyJwt: { namespace: 'nope' } }] }, /opts\.jwt\[1\]\.fastifyJwt\.namespace/]
  ]
  for (const [name, before, opts, message] of cases) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(websocket)
    await before?.(app)
    await t.rejects(async () => { await app.register(authHandshake, opts) }, { code: 'WSG_INVALID_OPTION', message }, name)
  }
})
