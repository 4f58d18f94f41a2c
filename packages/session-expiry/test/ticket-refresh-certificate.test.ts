// A socket opened with a ticket on a route that takes every method (jwt, mtls, jwt+mtls,
// ticket) has a principal without `certificate` (a ticket is checked as on a `jwt` route). Its
// in-band refresh is checked the same way: with a client certificate on the connection it was
// refused WSG_CERT_BINDING_MISMATCH, every time (Z13), where the README promises "A socket
// opened with a ticket is refreshed in-band with a token".
//
// Z34: that held for the first refresh only: the refreshed principal is a token's
// (`method: 'jwt'`), so the next refresh was checked by the route's own methods, and on a route
// that takes only tickets every later refresh was refused WSG_CERT_REQUIRED, closing the
// socket at its token's expiry (session 32's review, noted as "fails closed").
import t from 'tap'
import { request } from 'node:https'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import { claimsFor, createTestCa, FakeClock, generateKey, jwks, mintToken, openSocket } from '@wsguard/testing'
import { sessionExpiry } from '../src/index.js'

t.test('a socket opened with a ticket is refreshed with a token again and again, with or without a client certificate', async (t) => {
  const ca = await createTestCa()
  const server = await ca.issue({ commonName: 'server', ipAddresses: ['127.0.0.1'] })
  const workload = await ca.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'] })
  const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000)
  const key = generateKey('ES256')
  const app = Fastify({ https: { key: server.key, cert: server.cert, ca: [ca.cert], requestCert: true, rejectUnauthorized: false } }) as unknown as FastifyInstance
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, {
    mtls: { trustDomains: ['prod.example'] },
    jwt: { issuer: 'https://idp.test', audience: 'feed', algorithms: ['ES256'], jwks: jwks(key) },
    carriers: ['header', 'ticket'],
    tickets: {},
    clock
  })
  await app.register(sessionExpiry, { clock, heartbeatMs: 0, idleTimeoutMs: 0, noticeMs: 1_000 })
  app.get('/any', { websocket: true }, (socket, req) => { socket.send(JSON.stringify({ method: req.principal?.method })) })
  app.get('/tickets-only', { websocket: true, config: { auth: { methods: ['ticket'] } } }, (socket, req) => { socket.send(JSON.stringify({ method: req.principal?.method })) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const token = (lifetimeS: number): string => mintToken(key, claimsFor('https://idp.test', 'feed', 'alice', clock.now(), lifetimeS))

  const ticket = async (path: string): Promise<string> => await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/ws-ticket', method: 'POST', ca: ca.cert, headers: { 'content-type': 'application/json', authorization: `Bearer ${token(60)}` } }, (res) => {
      let body = ''
      res.on('data', (d) => { body += String(d) })
      res.on('end', () => { resolve((JSON.parse(body) as { ticket: string }).ticket) })
    })
    req.on('error', reject)
    req.end(JSON.stringify({ path }))
  })

  for (const path of ['/tickets-only', '/any']) {
    for (const [name, client] of [
      ['no client certificate', { ca: ca.cert }],
      ['with the workload certificate', { ca: ca.cert, cert: workload.cert, key: workload.key }]
    ] as const) {
      const c = await openSocket(`wss://127.0.0.1:${port}${path}?ticket=${await ticket(path)}`, { client, teardown: (fn) => t.teardown(fn) })
      t.same(await c.next(), { method: 'ticket' }, `${path}, ${name}: opened with the ticket`)
      for (const [k, lifetimeS] of [600, 900, 1200].entries()) {
        t.match(await c.ask({ type: 'auth.refresh', token: token(lifetimeS) }), { type: 'auth.refreshed' }, `${path}, ${name}: refresh ${k + 1}`)
      }
    }
  }
})
