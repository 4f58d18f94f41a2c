import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import type { Principal, Revocation } from '@wsguard/core'
import { claimsFor, connectSocket, FakeClock, jwks, mintToken, until, type SocketClient } from '@wsguard/testing'
import { sessionExpiry, MemoryRevocationStore } from '../src/index.js'
import { AUD, ISS, key, recordingRevocations, T0 } from './helpers.js'

// Found by session 21's review: `wsSessions.list()` gives each session's id (the connection's),
// and revoke({ sessionId }) closes that connection 4403, "access revoked: do not reconnect with
// the same credential". But the record was kept under the connection id, which no token
// carries: the same token opened again at once. Now the connection's token is refused by its id.

const teardown = (t: Test) => (fn: () => void): void => { t.teardown(fn) }

async function instance (t: Test, clock: FakeClock, store?: MemoryRevocationStore): Promise<{ url: string, records: Revocation[], app: Awaited<ReturnType<typeof Fastify>> }> {
  const recording = recordingRevocations()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) }, clock })
  await app.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, revocations: store ?? recording.revocations, clock })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('opened') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`, records: recording.records, app }
}

const tokenOf = (clock: FakeClock, sub: string, jti: string): string => mintToken(key, { ...claimsFor(ISS, AUD, sub, clock.now(), 600), jti })

t.test('a connection revoked by the id list() gives: its token is refused by its jti; the subject\'s other tokens open', async (t) => {
  const clock = new FakeClock(T0)
  const a = await instance(t, clock)
  const stolen = tokenOf(clock, 'alice', 'tok-stolen')
  const s = await connectSocket(a.url, { token: stolen, teardown: teardown(t) }) as SocketClient
  const [info] = await a.app.wsSessions.list({ subject: 'alice' })
  t.same(await a.app.wsSessions.revoke({ sessionId: info?.id as string }, { actor: 'soc', reason: 'suspicious' }), { closed: 1 })
  t.match(await s.closed, { code: 4403, reason: 'access revoked' })
  t.match(a.records.filter((r) => 'tokenId' in r.filter), [{ filter: { tokenId: 'tok-stolen' }, until: (T0 / 1000 + 600) * 1000 + 86_400_000, origin: { actor: 'soc', reason: 'suspicious' } }], 'written before revoke() resolved')
  const again = await connectSocket(a.url, { token: stolen, teardown: teardown(t) })
  t.match(again, { refused: true, status: 401, body: { code: 'WSG_TOKEN_REVOKED' } }, 'the same token is refused')
  const fresh = await connectSocket(a.url, { token: tokenOf(clock, 'alice', 'tok-new'), teardown: teardown(t) })
  t.notOk('refused' in fresh, 'alice signing in again opens')
})

t.test('a connection id revoked on another instance: the instance holding it closes it and refuses its token there and here', async (t) => {
  const clock = new FakeClock(T0)
  const shared = new MemoryRevocationStore()
  const a = await instance(t, clock, shared)
  const b = await instance(t, clock, shared)
  const stolen = tokenOf(clock, 'alice', 'tok-b')
  const s = await connectSocket(b.url, { token: stolen, teardown: teardown(t) }) as SocketClient
  const [info] = await b.app.wsSessions.list({ subject: 'alice' })
  t.same(await a.app.wsSessions.revoke({ sessionId: info?.id as string }), { closed: 0 }, 'nothing of A\'s')
  t.match(await s.closed, { code: 4403 }, 'B closed it')
  await until(() => shared.isRevoked({ ...(info?.principal as Principal), tokenId: 'tok-b' }, clock.now()), 'B refuses the token by its id')
  for (const url of [a.url, b.url]) {
    t.match(await connectSocket(url, { token: stolen, teardown: teardown(t) }), { refused: true, status: 401 }, 'refused on both instances')
  }
})
