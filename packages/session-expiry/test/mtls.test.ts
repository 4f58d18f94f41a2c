import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake, requirePrincipal } from '@wsguard/auth-handshake'
import { claimsFor, createTestCa, FakeClock, generateKey, jwks, mintToken, openSocket } from '@wsguard/testing'
import { sessionExpiry } from '../src/index.js'

// A token that lives an hour, bound to a certificate that lives ten minutes: on a route that
// takes the pair (jwt+mtls) and on one that takes plain jwt (the binding is the token's, so a
// bound token is usable only while its certificate is, whatever the route takes).
for (const [name, auth, method] of [
  ['a workload session ends when its certificate ages out, before its token does', undefined, 'jwt+mtls'],
  ['a session opened with a bound token on a jwt-only route ends when the certificate ages out', { methods: ['jwt'] }, 'jwt']
] as const) {
  t.test(name, async (t) => {
    const ca = await createTestCa()
    const server = await ca.issue({ commonName: 'server', ipAddresses: ['127.0.0.1'] })
    const start = Math.floor(Date.now() / 1000) * 1000
    const workload = await ca.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'], notBefore: start - 60_000, notAfter: start + 600_000 })
    const clock = new FakeClock(start)
    const key = generateKey('ES256')
    const app = Fastify({ https: { key: server.key, cert: server.cert, ca: [ca.cert], requestCert: true, rejectUnauthorized: false } }) as unknown as FastifyInstance
    t.teardown(() => app.close())
    await app.register(websocket)
    await app.register(authHandshake, { mtls: { trustDomains: ['prod.example'] }, jwt: { issuer: 'https://idp.test', audience: 'ingest', algorithms: ['ES256'], jwks: jwks(key) }, clock })
    await app.register(sessionExpiry, { clock, graceMs: 1_000, noticeMs: 60_000, heartbeatMs: 0, idleTimeoutMs: 0 })
    app.get('/ingest', { websocket: true, config: auth === undefined ? {} : { auth } }, (socket, req) => { socket.send(JSON.stringify({ method: requirePrincipal(req).method, expiresAt: req.wsSession.expiresAt })) })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const url = `wss://127.0.0.1:${(app.server.address() as AddressInfo).port}/ingest`
    const token = mintToken(key, { ...claimsFor('https://idp.test', 'ingest', 'billing', start, 3600), cnf: { 'x5t#S256': workload.thumbprint } })
    const c = await openSocket(url, { token, client: { ca: ca.cert, cert: workload.cert, key: workload.key }, teardown: (fn) => t.teardown(fn) })
    const notAfter = Math.floor((start + 600_000) / 1000) * 1000
    t.same(await c.next(), { method, expiresAt: notAfter })
    clock.advance(notAfter - start - 60_000)
    t.same(await c.next(), { type: 'auth.expiring', expiresAt: notAfter, deadline: notAfter + 1_000 })
    clock.advance(61_000)
    t.same(await c.closed, { code: 4401, reason: 'credential expired' })
  })
}
