import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import { claimsFor, connectSocket, FakeClock, jwks, mintToken } from '@wsguard/testing'
import { sessionExpiry } from '../src/index.js'
import { AUD, ISS, key, T0 } from './helpers.js'

// wsSessions.revoke({ tokenId }) keeps the record only until the token's exp (taken from a live
// session's expiresAt). auth-handshake accepts a token until exp + clockToleranceMs (5 s by
// default), so in that window a revoked token id opens a new socket again.

t.test('a revoked token id never opens a socket again, not even within the clock tolerance after its exp', async (t) => {
  const clock = new FakeClock(T0)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) }, clock })
  await app.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, clock })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('opened') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`
  const claims = claimsFor(ISS, AUD, 'mallory', clock.now(), 60)
  const token = mintToken(key, { ...claims, jti: 'stolen-1' })
  const teardown = (fn: () => void): void => { t.teardown(fn) }

  const first = await connectSocket(url, { token, teardown })
  t.notOk('refused' in first, 'the token opens a socket before it is revoked')
  t.same(await app.wsSessions.revoke({ tokenId: 'stolen-1' }), { closed: 1 })
  const again = await connectSocket(url, { token, teardown })
  t.equal('refused' in again && again.body.code, 'WSG_TOKEN_REVOKED', 'refused right after the revocation')

  clock.set((claims.exp as number) * 1000 + 1_000) // 1 s past exp: inside the default 5 s tolerance
  const late = await connectSocket(url, { token, teardown })
  t.ok('refused' in late, 'the revoked token is refused (revoked or expired), never opened')
})
