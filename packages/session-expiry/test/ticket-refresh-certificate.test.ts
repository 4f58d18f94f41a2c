// A socket opened with a ticket on a route that takes every method (jwt, mtls, jwt+mtls,
// ticket) has a principal without `certificate` (a ticket is checked as on a `jwt` route). Its
// in-band refresh is checked the same way: with a client certificate on the connection it was
// refused WSG_CERT_BINDING_MISMATCH, every time (Z13), where the README promises "A socket
// opened with a ticket is refreshed in-band with a token".
import t from 'tap'
import { request } from 'node:https'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import { claimsFor, createTestCa, FakeClock, generateKey, jwks, mintToken, openSocket } from '@wsguard/testing'
import { sessionExpiry } from '../src/index.js'

t.test('a ticket socket is refreshed with a token, with or without a client certificate on the connection', async (t) => {
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
  app.get('/feed', { websocket: true }, (socket, req) => { socket.send(JSON.stringify({ method: req.principal?.method })) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const token = (lifetimeS: number): string => mintToken(key, claimsFor('https://idp.test', 'feed', 'alice', clock.now(), lifetimeS))

  const ticket = async (): Promise<string> => await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/ws-ticket', method: 'POST', ca: ca.cert, headers: { 'content-type': 'application/json', authorization: `Bearer ${token(60)}` } }, (res) => {
      let body = ''
      res.on('data', (d) => { body += String(d) })
      res.on('end', () => { resolve((JSON.parse(body) as { ticket: string }).ticket) })
    })
    req.on('error', reject)
    req.end(JSON.stringify({ path: '/feed' }))
  })

  for (const [name, client, expected] of [
    ['no client certificate', { ca: ca.cert }, { type: 'auth.refreshed' }],
    ['with the workload certificate (TLS authorized it)', { ca: ca.cert, cert: workload.cert, key: workload.key }, { type: 'auth.refreshed' }]
  ] as const) {
    const c = await openSocket(`wss://127.0.0.1:${port}/feed?ticket=${await ticket()}`, { client, teardown: (fn) => t.teardown(fn) })
    t.same(await c.next(), { method: 'ticket' }, `${name}: opened with the ticket`)
    t.match(await c.ask({ type: 'auth.refresh', token: token(600) }), expected, `${name}: the refresh answer`)
  }
})
