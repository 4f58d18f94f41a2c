import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import fastifyJwt from '@fastify/jwt'
import type { AddressInfo } from 'node:net'
import { authHandshake, requirePrincipal } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { topicAuthz } from '@wsguard/topic-authz'
import { claimsFor, connectSocket, generateKey, mintToken, openSocket } from '@wsguard/testing'

// auth-handshake verifying with the app's @fastify/jwt is one more way of building the same
// principal: the other plugins' checks (revocation, the handshake topic, in-band refresh
// through every handshake check) apply to it as to any other.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const rsa = generateKey('RS256', 'rsa-1')
const other = generateKey('RS256', 'rsa-2')
const token = (extra: Record<string, unknown> = {}, key = rsa): string =>
  mintToken(key, { ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), tenant: 'acme', scope: 'orders:read', ...extra })

t.test('with @fastify/jwt as the verifier: revocation, handshake topic and in-band refresh all apply', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(fastifyJwt, { secret: { public: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string } })
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['RS256'], fastifyJwt: true } })
  await app.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] })
  await app.register(sessionExpiry, { heartbeatMs: 0 })
  app.get('/orders/:tenant', {
    websocket: true,
    config: { auth: { scopes: ['orders:read'] }, handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}' } }
  }, (socket, req) => {
    socket.on('message', (data) => { if (String(data) === 'who') socket.send(JSON.stringify({ jti: requirePrincipal(req).tokenId })) })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const teardown = (fn: () => void): void => { t.teardown(fn) }

  const socket = await openSocket(`${base}/orders/acme`, { token: token({ jti: 'first' }), teardown })
  t.same(await socket.ask('who'), { jti: 'first' })
  const otherTenant = await connectSocket(`${base}/orders/globex`, { token: token(), teardown })
  t.match(otherTenant, { refused: true, status: 403, body: { code: 'WSG_TOPIC_DENIED' } }, 'the handshake topic')

  // In-band refresh: verified through @fastify/jwt with the socket's request, then every handshake check.
  // A refresh must move exp forward (session-expiry): these tokens live longer than the first.
  const later = (hours: number): number => Math.floor(Date.now() / 1000) + hours * 3600
  t.match(await socket.ask({ type: 'auth.refresh', token: token({ jti: 'second', exp: later(2) }) }), { type: 'auth.refreshed' })
  t.same(await socket.ask('who'), { jti: 'second' })
  t.match(await socket.ask({ type: 'auth.refresh', token: token({ jti: 'forged', exp: later(3) }, other) }), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' }, 'a key @fastify/jwt does not hold')
  t.match(await socket.ask({ type: 'auth.refresh', token: token({ jti: 'third', tenant: 'globex', exp: later(3) }) }), { type: 'auth.refresh_failed', code: 'WSG_TOPIC_DENIED' }, 'another tenant')

  // Revocation: the open socket closes 4403, the same token is refused at the next handshake.
  const revoked = await app.wsSessions.revoke({ tokenId: 'second' })
  t.equal(revoked.closed, 1)
  t.match(await socket.closed, { code: 4403 })
  const again = await connectSocket(`${base}/orders/acme`, { token: token({ jti: 'second' }), teardown })
  t.match(again, { refused: true, status: 401, body: { code: 'WSG_TOKEN_REVOKED' } })
})
