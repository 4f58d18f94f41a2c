import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import type { Principal } from '@wsguard/core'
import { claimsFor, connectSocket, FakeClock, jwks, mintToken } from '@wsguard/testing'
import { sessionExpiry } from '../src/index.js'
import { AUD, ISS, key, recordingRevocations, T0 } from './helpers.js'

// A subject record refuses tokens issued (iat) at or before its `at`. Dated by this server's
// clock, a token whose iat was up to the verifier's clock tolerance ahead (an IdP whose clock
// runs 3 s fast) counted as issued after the revocation: revoke({ subject }) closed the socket
// and the very same token opened again at once.

const teardown = (t: Test) => (fn: () => void): void => { t.teardown(fn) }

t.test('revoke({ subject }) refuses the token it closed, and any issued before it by a clock up to the tolerance ahead', async (t) => {
  const clock = new FakeClock(T0)
  const { records, revocations } = recordingRevocations()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  // A partner issuer trusted with a looser clock: its tolerance must not date ISS's revocations.
  const partner = { issuer: 'https://partner.example', audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key), clockToleranceMs: 600_000 }
  await app.register(authHandshake, { jwt: [{ issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), clockToleranceMs: 5_000 }, partner], clock })
  await app.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, revocations, clock })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('opened') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`
  t.equal(app.wsguardAuth.clockToleranceMs?.(ISS), 5_000, 'auth-handshake tells each issuer\'s tolerance')
  t.equal(app.wsguardAuth.clockToleranceMs?.(), 600_000, 'and the largest, for no issuer')
  t.equal(app.wsguardAuth.clockToleranceMs?.('https://unknown.example'), 600_000, 'or one it does not know')

  const ahead = mintToken(key, claimsFor(ISS, AUD, 'alice', clock.now() + 3_000, 600)) // the IdP's clock 3 s fast
  const unseen = mintToken(key, claimsFor(ISS, AUD, 'alice', clock.now() + 4_000, 600)) // issued before the revoke too, not connected
  const first = await connectSocket(url, { token: ahead, teardown: teardown(t) })
  t.notOk('refused' in first, 'a token with iat 3 s ahead is accepted (within the tolerance)')
  t.same(await app.wsSessions.revoke({ subject: 'alice', issuer: ISS }), { closed: 1 })
  t.equal(records[0]?.at, T0 + 5_000, 'dated the issuer\'s tolerance ahead of this server\'s clock')
  for (const [name, token] of [['the token it closed', ahead], ['another issued before it', unseen]] as const) {
    const again = await connectSocket(url, { token, teardown: teardown(t) })
    t.equal('refused' in again && again.body.code, 'WSG_TOKEN_REVOKED', name)
  }
  clock.advance(6_000)
  const after = await connectSocket(url, { token: mintToken(key, claimsFor(ISS, AUD, 'alice', clock.now(), 600)), teardown: teardown(t) })
  t.notOk('refused' in after, 'a token issued after that opens: the user can sign in again')
  await app.wsSessions.revoke({ subject: 'bob' })
  t.equal(records[1]?.at, clock.now() + 600_000, 'a filter without an issuer: the largest tolerance of any')
})

t.test('without auth-handshake (or a wsguardAuth that tells no tolerance), the record is never dated before the iat of a session it closes', async (t) => {
  for (const otherAuth of [false, true]) {
    await t.test(otherAuth ? 'a wsguardAuth without clockToleranceMs' : 'no wsguardAuth', async (t) => {
      const clock = new FakeClock(T0)
      const { records, revocations } = recordingRevocations()
      const app = Fastify()
      t.teardown(() => app.close())
      await app.register(websocket)
      const principal = (sub: string, iat: number): Principal => Object.freeze({ id: sub, issuer: ISS, kind: 'user', method: 'jwt', scopes: [], claims: { iat }, sessionId: sub, expiresAt: T0 + 600_000 })
      const bySub: Record<string, Principal> = { alice: principal('alice', T0 / 1000 + 7), bob: principal('bob', Number.POSITIVE_INFINITY), carol: principal('carol', T0 / 1000 + 9) }
      // Another authenticating plugin's wsguardAuth that tells no tolerance: none is assumed.
      if (otherAuth) app.decorate('wsguardAuth', { authenticate: async () => ({ ok: false as const, code: 'WSG_TOKEN_INVALID' as const }) })
      app.decorateRequest('principal', null as never)
      app.addHook('onRequest', async (req) => { req.principal = bySub[String((req.query as { sub?: string }).sub)] ?? null })
      await app.register(sessionExpiry, {
        heartbeatMs: 0,
        idleTimeoutMs: 0,
        refresh: false,
        clock,
        revocations
      })
      app.get('/ws', { websocket: true }, (socket) => { socket.send('opened') })
      await app.listen({ port: 0, host: '127.0.0.1' })
      const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
      for (const sub of ['alice', 'bob', 'carol']) t.notOk('refused' in await connectSocket(`${base}?sub=${sub}`, { teardown: teardown(t) }))
      await app.wsSessions.revoke({ subject: 'alice' })
      await app.wsSessions.revoke({ subject: 'bob' })
      await app.wsSessions.revoke({ tokenId: 'carol-token' })
      t.same(records.map((r) => r.at), [T0 + 7_000, T0, T0], 'alice: her session\'s iat; bob: an iat that is no time is ignored; a token id record: now')
      const again = await connectSocket(`${base}?sub=alice`, { teardown: teardown(t) })
      t.equal('refused' in again && again.status, 401, 'the principal it closed is refused')
    })
  }
})
