import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { claimsFor, connectSocket, createTestCa, generateKey, jwks, mintToken, type TestCertificate } from '@wsguard/testing'
import { authHandshake, spiffeTrustDomain, type AuthHandshakeOptions } from '../src/index.js'

const ISS = 'https://idp.test'
const BOUND_ISS = 'https://bound.idp.test'
const AUD = 'ingest-api'
const key = generateKey('ES256')
const HOUR = 3_600_000

const ca = await createTestCa()
const otherCa = await createTestCa('another CA')
const server = await ca.issue({ commonName: 'server' })
const billing = await ca.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'] })
const ingest = await ca.issue({ uris: ['spiffe://prod.example/ns/ingest/sa/worker'] })
const now = Date.now()
const bad: Record<string, TestCertificate> = {
  'another CA': await otherCa.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'] }),
  expired: await ca.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'], notBefore: now - 2 * HOUR, notAfter: now - HOUR }),
  'not yet valid': await ca.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'], notBefore: now + HOUR, notAfter: now + 2 * HOUR }),
  'another trust domain': await ca.issue({ uris: ['spiffe://dev.example/ns/billing/sa/api'] }),
  'no SAN': await ca.issue({}),
  'two URI SANs': await ca.issue({ uris: ['spiffe://prod.example/a', 'spiffe://prod.example/b'] }),
  'a query in the SPIFFE ID': await ca.issue({ uris: ['spiffe://prod.example/ns/billing?x=1'] }),
  'a comma in a URI SAN (Node quotes it)': await ca.issue({ uris: ['spiffe://prod.example/a,b'] })
}

const bearer = (sub: string, extra: Record<string, unknown> = {}, iss = ISS): string => mintToken(key, { ...claimsFor(iss, AUD, sub, Date.now(), 600), ...extra })
const boundTo = (cert: TestCertificate, sub = 'billing-client'): string => bearer(sub, { cnf: { 'x5t#S256': cert.thumbprint } })

async function tlsApp (t: Test, opts: Partial<AuthHandshakeOptions> = {}, tls = true): Promise<{ app: FastifyInstance, base: string }> {
  // TLS asks for a client certificate and lets the handshake decide (rejectUnauthorized: false).
  const app = (tls ? Fastify({ https: { key: server.key, cert: server.cert, ca: [ca.cert], requestCert: true, rejectUnauthorized: false } }) : Fastify()) as unknown as FastifyInstance
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, {
    mtls: { trustDomains: ['prod.example'] },
    jwt: [
      { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) },
      { issuer: BOUND_ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), certificateBound: 'required' }
    ],
    ...opts
  })
  const echo = (socket: { send: (s: string) => void }, req: { principal: unknown }): void => { socket.send(JSON.stringify(req.principal)) }
  app.get('/ingest', { websocket: true, config: { auth: { methods: ['mtls', 'jwt+mtls'] } } }, echo)
  app.get('/any', { websocket: true }, echo)
  app.get('/jwt-only', { websocket: true, config: { auth: { methods: ['jwt'] } } }, echo)
  app.get('/mtls-only', { websocket: true, config: { auth: { methods: ['mtls'] } } }, echo)
  app.get('/both-only', { websocket: true, config: { auth: { methods: ['jwt+mtls'] } } }, echo)
  app.get('/refresh', { websocket: true, config: { auth: { methods: ['jwt+mtls'] } } }, async (socket, req) => {
    const outcomes = await Promise.all([boundTo(billing), boundTo(ingest)].map((tok) => app.wsguardAuth.authenticate(tok, req)))
    socket.send(JSON.stringify(outcomes.map((o) => (o.ok ? o.principal.method : o.code))))
  })
  // A route this plugin does not govern: its principal would be the app's, but a refresh token's binding still holds.
  app.get('/open-refresh', { websocket: true, config: { auth: false } }, async (socket, req) => {
    const tokens = [boundTo(billing), boundTo(ingest), bearer('bound-client', {}, BOUND_ISS), bearer('alice')]
    const outcomes = await Promise.all(tokens.map((tok) => app.wsguardAuth.authenticate(tok, req)))
    const alone = await Promise.all(tokens.map((tok) => app.wsguardAuth.authenticate(tok)))
    socket.send(JSON.stringify([outcomes, alone].map((os) => os.map((o) => (o.ok ? o.principal.method : o.code)))))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base: `${tls ? 'wss' : 'ws'}://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

/** Connects with a client certificate (or none) and a token (or none); the server's own certificate is not checked here. */
async function attempt (t: Test, url: string, cert?: TestCertificate, token?: string): Promise<{ status: number, code?: unknown, principal?: Record<string, unknown> }> {
  const c = await connectSocket(url, {
    ...(token !== undefined ? { token } : {}),
    client: { rejectUnauthorized: false, ...(cert !== undefined ? { cert: cert.cert, key: cert.key } : {}) },
    teardown: (fn) => t.teardown(fn)
  })
  if ('refused' in c) return { status: c.status, code: c.body.code }
  return { status: 101, principal: await c.next() as Record<string, unknown> }
}

t.test('a SPIFFE workload certificate is a principal before the upgrade', async (t) => {
  const { base } = await tlsApp(t)
  const r = await attempt(t, `${base}/ingest`, billing)
  t.equal(r.status, 101)
  const p = r.principal as { certificate: { notAfter: number, fingerprint256: string }, expiresAt: number }
  t.match(r.principal, {
    id: 'spiffe://prod.example/ns/billing/sa/api',
    kind: 'workload',
    method: 'mtls',
    scopes: [],
    certificate: { spiffeId: 'spiffe://prod.example/ns/billing/sa/api', subject: 'CN=workload' }
  })
  t.equal(p.expiresAt, p.certificate.notAfter, 'expires with the certificate')
  t.match(p.certificate.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
  t.same(await attempt(t, `${base}/ingest`), { status: 401, code: 'WSG_CERT_REQUIRED' }, 'no certificate')
})

t.test('certificates that must be refused, each with 401 WSG_CERT_UNTRUSTED', async (t) => {
  const { base } = await tlsApp(t)
  for (const [name, cert] of Object.entries(bad)) {
    t.same(await attempt(t, `${base}/ingest`, cert), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, name)
  }
})

t.test("validity is checked against the plugin's clock too", async (t) => {
  const { FakeClock } = await import('@wsguard/testing')
  const { base } = await tlsApp(t, { clock: new FakeClock(Date.now() + 2 * HOUR) })
  t.same(await attempt(t, `${base}/ingest`, billing), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, 'valid for TLS now, expired by the clock')
})

t.test('an allowlist of workload ids', async (t) => {
  const { base } = await tlsApp(t, { mtls: { trustDomains: ['prod.example'], allow: ['spiffe://prod.example/ns/billing/sa/*'] } })
  t.equal((await attempt(t, `${base}/ingest`, billing)).status, 101)
  t.same(await attempt(t, `${base}/ingest`, ingest), { status: 401, code: 'WSG_CERT_UNTRUSTED' })
})

t.test('certificate-bound tokens (RFC 8705): useless on another workload', async (t) => {
  const { base } = await tlsApp(t)
  const forBilling = boundTo(billing)
  const onBilling = await attempt(t, `${base}/ingest`, billing, forBilling)
  t.equal(onBilling.status, 101)
  const p = onBilling.principal as { method: string, id: string, expiresAt: number, certificate: { notAfter: number, spiffeId: string } }
  t.equal(p.method, 'jwt+mtls')
  t.equal(p.id, 'billing-client', 'the token names the principal')
  t.equal(p.certificate.spiffeId, 'spiffe://prod.example/ns/billing/sa/api')
  t.equal(p.expiresAt, Math.min(p.certificate.notAfter, (JSON.parse(Buffer.from(forBilling.split('.')[1] as string, 'base64url').toString()) as { exp: number }).exp * 1000), 'the earlier of exp and notAfter')
  t.same(await attempt(t, `${base}/ingest`, ingest, forBilling), { status: 401, code: 'WSG_CERT_BINDING_MISMATCH' }, 'copied to another workload')
  t.same(await attempt(t, `${base}/any`, undefined, forBilling), { status: 401, code: 'WSG_CERT_REQUIRED' }, 'without any certificate')
  t.same(await attempt(t, `${base}/jwt-only`, undefined, forBilling), { status: 401, code: 'WSG_CERT_REQUIRED' }, 'even where the route takes plain jwt')
  t.same(await attempt(t, `${base}/jwt-only`, bad.expired, forBilling), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, 'with an untrusted certificate')
  t.same(await attempt(t, `${base}/any`, billing, bearer('billing-client', {}, BOUND_ISS)), { status: 401, code: 'WSG_CERT_BINDING_MISMATCH' }, 'an issuer whose tokens must be bound, a token that is not')
  t.equal((await attempt(t, `${base}/any`, billing, bearer('billing-client', { cnf: { 'x5t#S256': billing.thumbprint } }, BOUND_ISS))).status, 101)
})

t.test('a bound token on a route that takes plain jwt expires with its certificate, not after it', async (t) => {
  const { base } = await tlsApp(t)
  // One reading of the clock: read again after the handshake, it can fall in the next second.
  const notAfter = Date.now() + 60_000
  const soon = await ca.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'], notBefore: notAfter - 60_000 - HOUR, notAfter })
  const token = boundTo(soon) // lives 10 minutes, the certificate 1
  const p = (await attempt(t, `${base}/jwt-only`, soon, token)).principal as { method: string, expiresAt: number, certificate?: unknown }
  t.equal(p.method, 'jwt', 'still the method the route took')
  t.equal(p.certificate, undefined, 'no certificate on a jwt principal')
  t.equal(p.expiresAt, Math.floor(notAfter / 1000) * 1000, 'the certificate\'s notAfter, before the token\'s exp')
  const outlived = boundTo(billing) // the certificate lives an hour
  const later = (await attempt(t, `${base}/jwt-only`, billing, outlived)).principal as { expiresAt: number }
  t.equal(later.expiresAt, (JSON.parse(Buffer.from(outlived.split('.')[1] as string, 'base64url').toString()) as { exp: number }).exp * 1000, 'a certificate that outlives the token: the token\'s exp')
})

t.test('routes choose their methods; the principal says which was used', async (t) => {
  const { base } = await tlsApp(t)
  const plain = bearer('alice')
  t.match((await attempt(t, `${base}/any`, undefined, plain)).principal, { method: 'jwt', id: 'alice' })
  t.match((await attempt(t, `${base}/any`, billing)).principal, { method: 'mtls' })
  t.match((await attempt(t, `${base}/any`, billing, plain)).principal, { method: 'jwt+mtls', id: 'alice' })
  t.match((await attempt(t, `${base}/jwt-only`, billing, plain)).principal, { method: 'jwt' }, 'a certificate the route does not use')
  t.match((await attempt(t, `${base}/jwt-only`, bad.expired, plain)).principal, { method: 'jwt' }, 'an untrusted one it does not use either')
  t.same(await attempt(t, `${base}/jwt-only`, billing), { status: 401, code: 'WSG_CREDENTIAL_MISSING' })
  t.same(await attempt(t, `${base}/mtls-only`, billing, plain), { status: 400, code: 'WSG_BAD_REQUEST' }, 'a token where only certificates are taken')
  t.same(await attempt(t, `${base}/mtls-only`, undefined, plain), { status: 401, code: 'WSG_CERT_REQUIRED' })
  t.same(await attempt(t, `${base}/both-only`, undefined, plain), { status: 401, code: 'WSG_CERT_REQUIRED' })
  t.same(await attempt(t, `${base}/both-only`, billing), { status: 401, code: 'WSG_CREDENTIAL_MISSING' })
  t.same(await attempt(t, `${base}/any`, bad['another trust domain'], plain), { status: 401, code: 'WSG_CERT_UNTRUSTED' })
  t.same(await attempt(t, `${base}/both-only`, bad['no SAN'], plain), { status: 401, code: 'WSG_CERT_UNTRUSTED' })
})

t.test('a refresh keeps the binding: wsguardAuth.authenticate(token, request) checks the connection\'s certificate', async (t) => {
  const { base } = await tlsApp(t)
  const r = await attempt(t, `${base}/refresh`, billing, boundTo(billing))
  t.same(r.principal, ['jwt+mtls', 'WSG_CERT_BINDING_MISMATCH'])
})

t.test('a bound token needs its certificate on a route the plugin does not govern, and without a request', async (t) => {
  const { base } = await tlsApp(t)
  const [onRoute, alone] = (await attempt(t, `${base}/open-refresh`, billing)).principal as unknown as string[][]
  t.same(onRoute, ['jwt', 'WSG_CERT_BINDING_MISMATCH', 'WSG_CERT_BINDING_MISMATCH', 'jwt'], 'the connection\'s certificate is checked, no route rules')
  t.same(alone, ['WSG_CERT_REQUIRED', 'WSG_CERT_REQUIRED', 'WSG_CERT_REQUIRED', 'jwt'], 'no connection, no certificate: a bound token is refused')
  const [withoutCert] = (await attempt(t, `${base}/open-refresh`)).principal as unknown as string[][]
  t.same(withoutCert, ['WSG_CERT_REQUIRED', 'WSG_CERT_REQUIRED', 'WSG_CERT_REQUIRED', 'jwt'])
})

t.test('a server without mTLS cannot check a binding, so it refuses a bound token', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('{}') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  t.same(await attempt(t, `${base}/feed`, undefined, boundTo(billing)), { status: 401, code: 'WSG_CERT_REQUIRED' })
  t.equal((await attempt(t, `${base}/feed`, undefined, bearer('alice'))).status, 101, 'an unbound token is fine')
})

t.test('without TLS there is no certificate', async (t) => {
  const { base } = await tlsApp(t, {}, false)
  t.same(await attempt(t, `${base}/ingest`), { status: 401, code: 'WSG_CERT_REQUIRED' })
})

t.test('another PKI: an identity function', async (t) => {
  const { base } = await tlsApp(t, {
    mtls: { identity: (cert) => (cert.subject === 'CN=workload' ? undefined : { id: `x509:${cert.subject}`, scopes: ['ingest:write'] }) }
  })
  const named = await ca.issue({ commonName: 'ingest-7' })
  t.match((await attempt(t, `${base}/ingest`, named)).principal, { id: 'x509:CN=ingest-7', kind: 'workload', scopes: ['ingest:write'] })
  t.notOk('spiffeId' in ((await attempt(t, `${base}/ingest`, named)).principal?.certificate as object))
  t.same(await attempt(t, `${base}/ingest`, billing), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, 'the function said no')
  const multi = await ca.issue({ commonName: 'svc, OU=a, OU=b' })
  t.match((await attempt(t, `${base}/ingest`, multi)).principal, { id: 'x509:CN=svc, OU=a+b' }, 'a repeated attribute')
})

t.test('an empty subject (as SPIFFE SVIDs often have)', async (t) => {
  const { base } = await tlsApp(t)
  const svid = await ca.issue({ commonName: '', uris: ['spiffe://prod.example/ns/billing/sa/api'] })
  t.match((await attempt(t, `${base}/ingest`, svid)).principal, { id: 'spiffe://prod.example/ns/billing/sa/api', certificate: { subject: '' } })
})

t.test('spiffeTrustDomain', async (t) => {
  t.equal(spiffeTrustDomain('spiffe://prod.example/ns/a'), 'prod.example')
  for (const bad of ['spiffe://prod.example', 'spiffe://prod.example/', 'spiffe:///a', 'spiffe://Prod.example/a', 'spiffe://prod.example/a//b', 'spiffe://prod.example/a/../b',
    'spiffe://prod.example/a#f', 'spiffe://u@prod.example/a', 'spiffe://prod.example:443/a', 'https://prod.example/a', `spiffe://prod.example/${'a'.repeat(2048)}`]) {
    t.equal(spiffeTrustDomain(bad), undefined, bad.slice(0, 60))
  }
})

t.test('route methods are checked against what the plugin is configured for', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } })
  t.throws(() => app.get('/x', { websocket: true, config: { auth: { methods: ['mtls'] } } }, () => {}), { code: 'WSG_INVALID_OPTION', message: /config\.auth\.methods: 'mtls' needs opts\.mtls/ })
  t.throws(() => app.get('/y', { websocket: true, config: { auth: { methods: ['jwt+mtls'] } } }, () => {}), { message: /'jwt\+mtls' needs opts\.jwt and opts\.mtls/ })
  t.throws(() => app.get('/z', { websocket: true, config: { auth: { methods: [] } } }, () => {}), { message: /config\.auth\.methods must be a non-empty array of jwt, mtls, jwt\+mtls/ })
  const only = Fastify()
  t.teardown(() => only.close())
  await only.register(websocket)
  await only.register(authHandshake, { mtls: { trustDomains: ['prod.example'] } })
  t.throws(() => only.get('/j', { websocket: true, config: { auth: { methods: ['jwt'] } } }, () => {}), { message: /'jwt' needs opts\.jwt/ })
})

t.test('behind a TLS-terminating proxy: a forwarded certificate, only from the proxy, only from the CA', async (t) => {
  const proxied = async (proxies: string[]): Promise<string> => {
    const { base } = await tlsApp(t, { mtls: { trustDomains: ['prod.example'], trustProxyCertificateHeader: { header: 'X-Client-Cert', proxies, ca: [ca.cert] } } }, false)
    return base
  }
  const base = await proxied(['127.0.0.1'])
  const forward = async (cert?: string, token?: string): Promise<{ status: number, code?: unknown, principal?: Record<string, unknown> }> => {
    const c = await connectSocket(`${base}/any`, {
      ...(token !== undefined ? { token } : {}),
      client: { headers: cert === undefined ? {} : { 'x-client-cert': cert } },
      teardown: (fn) => t.teardown(fn)
    })
    if ('refused' in c) return { status: c.status, code: c.body.code }
    return { status: 101, principal: await c.next() as Record<string, unknown> }
  }
  t.match((await forward(encodeURIComponent(billing.cert))).principal, { method: 'mtls', id: 'spiffe://prod.example/ns/billing/sa/api' })
  t.match((await forward(encodeURIComponent(billing.cert), boundTo(billing))).principal, { method: 'jwt+mtls' }, 'a bound token with its forwarded certificate')
  t.same(await forward(encodeURIComponent(bad['another CA'].cert)), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, 'not issued by the configured CA')
  t.same(await forward(encodeURIComponent(bad.expired.cert)), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, 'expired')
  t.same(await forward('not a certificate'), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, 'garbage')
  t.same(await forward(), { status: 401, code: 'WSG_CREDENTIAL_MISSING' }, 'the proxy forwarded none')
  const elsewhere = await proxied(['10.0.0.1'])
  const direct = await connectSocket(`${elsewhere}/any`, { client: { headers: { 'x-client-cert': encodeURIComponent(billing.cert) } }, teardown: (fn) => t.teardown(fn) })
  t.same('refused' in direct && [direct.status, direct.body.code], [401, 'WSG_CREDENTIAL_MISSING'], 'from anywhere else the header is ignored')
})

t.test('proxy option validation', async (t) => {
  // A CA bound to dev.example: TLS would refuse a spiffe://prod.example leaf from it; Node cannot check that here.
  const constrainedCa = await createTestCa('dev-only CA', { permittedUriHosts: ['dev.example'] })
  const { validateOptions } = await import('../src/options.js')
  const bad: Array<[unknown, RegExp]> = [
    ['x', /trustProxyCertificateHeader must be \{ header, proxies, ca \}/],
    [{ header: 'x', proxies: ['127.0.0.1'], ca: ca.cert, trust: true }, /trustProxyCertificateHeader\.trust is not an option/],
    [{ header: 'bad header', proxies: ['127.0.0.1'], ca: ca.cert }, /header must be a header name/],
    [{ header: 'x', proxies: ['localhost'], ca: ca.cert }, /proxies must be a non-empty array of IP addresses/],
    [{ header: 'x', proxies: ['127.0.0.1'], ca: [] }, /ca must be a PEM certificate or a non-empty array/],
    [{ header: 'x', proxies: ['127.0.0.1'], ca: 'not pem' }, /ca\[0\] is not a PEM certificate/],
    [{ header: 'x', proxies: ['127.0.0.1'], ca: [ca.cert, billing.cert] }, /ca\[1\] is not a CA certificate \(basicConstraints CA:TRUE\)/],
    [{ header: 'x', proxies: ['127.0.0.1'], ca: [constrainedCa.cert] }, /ca\[0\] has name constraints, which a forwarded certificate cannot be checked against/]
  ]
  for (const [value, message] of bad) {
    t.throws(() => validateOptions({ mtls: { trustDomains: ['prod.example'], trustProxyCertificateHeader: value } }), { code: 'WSG_INVALID_OPTION', message })
  }
})

t.test('behind a proxy, a certificate from an intermediate CA: one level, so list the intermediate', async (t) => {
  const intermediate = await ca.intermediate()
  const leaf = await intermediate.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'] })
  const forwardTo = async (trusted: string[]): Promise<unknown> => {
    const { base } = await tlsApp(t, { mtls: { trustDomains: ['prod.example'], trustProxyCertificateHeader: { header: 'x-client-cert', proxies: ['127.0.0.1'], ca: trusted } } }, false)
    const c = await connectSocket(`${base}/any`, { client: { headers: { 'x-client-cert': encodeURIComponent(leaf.cert) } }, teardown: (fn) => t.teardown(fn) })
    return 'refused' in c ? [c.status, c.body.code] : await c.next()
  }
  t.match(await forwardTo([intermediate.cert]), { method: 'mtls', id: 'spiffe://prod.example/ns/billing/sa/api' }, 'the intermediate listed: trusted')
  t.same(await forwardTo([ca.cert]), [401, 'WSG_CERT_UNTRUSTED'], 'only the root listed: no chain is built, refused')
})

t.test('behind a proxy, what TLS refuses of a client certificate is refused too: a CA out of its validity, a leaf not for client authentication, a CA as the leaf', async (t) => {
  const SPIFFE = ['spiffe://prod.example/ns/billing/sa/api']
  const forwardTo = async (trusted: string[], cert: string, identity?: NonNullable<AuthHandshakeOptions['mtls']>['identity']): Promise<unknown> => {
    const mtls = { trustDomains: ['prod.example'], ...(identity !== undefined ? { identity } : {}), trustProxyCertificateHeader: { header: 'x-client-cert', proxies: ['127.0.0.1'], ca: trusted } }
    const { base } = await tlsApp(t, { mtls }, false)
    const c = await connectSocket(`${base}/any`, { client: { headers: { 'x-client-cert': encodeURIComponent(cert) } }, teardown: (fn) => t.teardown(fn) })
    return 'refused' in c ? [c.status, c.body.code] : (await c.next() as { method: string }).method
  }
  const expiredCa = await createTestCa('expired CA', { notBefore: now - 2 * HOUR, notAfter: Date.now() - 1000 })
  const futureCa = await createTestCa('future CA', { notBefore: Date.now() + HOUR, notAfter: Date.now() + 2 * HOUR })
  for (const [name, issuer] of [['expired', expiredCa], ['not yet valid', futureCa]] as const) {
    // The leaf is within its own validity; only its CA is not.
    t.same(await forwardTo([issuer.cert], (await issuer.issue({ uris: SPIFFE })).cert), [401, 'WSG_CERT_UNTRUSTED'], `a CA ${name}: refused`)
  }
  const serverOnly = await ca.issue({ uris: SPIFFE, extendedKeyUsage: ['1.3.6.1.5.5.7.3.1'] })
  t.same(await forwardTo([ca.cert], serverOnly.cert), [401, 'WSG_CERT_UNTRUSTED'], 'a leaf for server authentication only: refused')
  t.same(await attempt(t, `${(await tlsApp(t)).base}/ingest`, serverOnly), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, 'as TLS refuses it')
  // OpenSSL's client purpose wants clientAuth itself: anyExtendedKeyUsage alone is not enough.
  const anyUsage = await ca.issue({ uris: SPIFFE, extendedKeyUsage: ['2.5.29.37.0'] })
  t.same(await forwardTo([ca.cert], anyUsage.cert), [401, 'WSG_CERT_UNTRUSTED'], 'anyExtendedKeyUsage alone: refused')
  t.same(await attempt(t, `${(await tlsApp(t)).base}/ingest`, anyUsage), { status: 401, code: 'WSG_CERT_UNTRUSTED' }, 'as TLS refuses it')
  t.equal(await forwardTo([ca.cert], (await ca.issue({ uris: SPIFFE, extendedKeyUsage: [] })).cert), 'mtls', 'no extended key usage: accepted')
  // A CA certificate is not a client's, though its subject names one; TLS's client purpose refuses it too.
  const intermediate = await ca.intermediate('billing')
  const bySubject = (c: { subject: string }): { id: string } => ({ id: c.subject })
  t.same(await forwardTo([ca.cert], intermediate.cert, bySubject), [401, 'WSG_CERT_UNTRUSTED'], 'a CA certificate as the client\'s: refused')
  t.equal(await forwardTo([ca.cert], (await ca.issue({ commonName: 'billing' })).cert, bySubject), 'mtls', 'the same identity function takes a leaf')
})

t.test('injectWS (no socket) with mTLS configured: there is no certificate', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { mtls: { trustDomains: ['prod.example'], trustProxyCertificateHeader: { header: 'x-client-cert', proxies: ['127.0.0.1'], ca: ca.cert } } })
  app.get('/ingest', { websocket: true }, () => {})
  await app.ready()
  await t.rejects(app.injectWS('/ingest'), { message: /Unexpected server response: 401/ })
})
