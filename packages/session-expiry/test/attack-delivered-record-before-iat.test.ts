import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import type { Principal, Revocation } from '@wsguard/core'
import { captureLogs, claimsFor, connectSocket, FakeClock, jwks, mintToken, until, type CapturedLogs, type SocketClient } from '@wsguard/testing'
import { sessionExpiry, MemoryRevocationStore } from '../src/index.js'
import { AUD, ISS, key, recordingRevocations, T0 } from './helpers.js'

// Found by session 20's adversarial review, with @wsguard/redis: an operator revokes a subject on
// instance A, whose clock runs 30 s behind the IdP's (more than the tolerance). The record is
// dated by A's clock. The subject's socket lives here (B): it is closed 4403, but the record's
// `at` is before the token's `iat`, so the same token opened again here at once. Now this
// instance refuses such a token by its id too. Here the store delivers a record as another
// instance's would arrive: not through wsSessions.revoke.

const teardown = (t: Test) => (fn: () => void): void => { t.teardown(fn) }

async function instance (t: Test, clock: FakeClock, failing = false): Promise<{ url: string, store: MemoryRevocationStore, records: Revocation[], logs: CapturedLogs, app: Awaited<ReturnType<typeof Fastify>> }> {
  const { store, records, revocations } = recordingRevocations((r) => failing && 'tokenId' in r.filter)
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'error', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), clockToleranceMs: 5_000 }, clock })
  await app.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, revocations, clock })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('opened') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`, store, records, logs, app }
}

t.test('a subject record from an instance whose clock runs behind: the token it closes here stays refused, by its id', async (t) => {
  const clock = new FakeClock(T0)
  const b = await instance(t, clock)
  const withId = mintToken(key, { ...claimsFor(ISS, AUD, 'alice', clock.now(), 600), jti: 'tok-1' })
  const withoutId = mintToken(key, claimsFor(ISS, AUD, 'alice', clock.now(), 600))
  const bob = mintToken(key, { ...claimsFor(ISS, AUD, 'bob', clock.now(), 600), jti: 'tok-bob' })
  const sockets = [] as SocketClient[]
  // Two sockets on the one token with an id: one record for it.
  for (const token of [withId, withoutId, bob, withId]) sockets.push(await connectSocket(url(b), { token, teardown: teardown(t) }) as SocketClient)
  // Dated 30 s before the tokens were issued, as a revoker 30 s behind would date it.
  const origin = { instance: 'instance-a', actor: 'ops' }
  await b.store.revoke({ filter: { subject: 'alice', issuer: ISS }, at: T0 - 30_000, until: T0 + 86_400_000, origin })
  t.same(await Promise.all([0, 1, 3].map(async (i) => (await (sockets[i] as SocketClient).closed).code)), [4403, 4403, 4403], 'all of alice\'s sockets closed')
  await until(() => b.records.length > 0, 'the token id recorded')
  const pinned = b.records.filter((r) => 'tokenId' in r.filter)
  t.match(pinned, [{ filter: { tokenId: 'tok-1' }, at: T0, until: (T0 / 1000 + 600) * 1000 + 86_400_000, origin: { actor: 'ops' } }], 'the token with an id is refused by it, until its expiry and the retention, once')
  t.equal(pinned.length, 1)
  t.not(pinned[0]?.origin?.instance, 'instance-a', 'recorded as this instance\'s doing, for the record\'s actor')
  const again = await connectSocket(url(b), { token: withId, teardown: teardown(t) })
  t.equal('refused' in again && again.body.code, 'WSG_TOKEN_REVOKED', 'the same token is refused again here')
  t.equal(sockets[2]?.ws.readyState, 1, 'bob\'s socket is left open')
})

t.test('a record delivered long after the token was issued refuses nothing more: a user who signed in again is not pinned', async (t) => {
  const clock = new FakeClock(T0)
  const b = await instance(t, clock)
  const fresh = mintToken(key, { ...claimsFor(ISS, AUD, 'alice', clock.now(), 600), jti: 'tok-fresh' })
  const s = await connectSocket(url(b), { token: fresh, teardown: teardown(t) }) as SocketClient
  // Revoked 61 s before this token was issued, delivered only now (a reload after a gap, a silent Redis).
  await b.store.revoke({ filter: { subject: 'alice' }, at: T0 - 61_000, until: T0 + 86_400_000 })
  t.equal((await s.closed).code, 4403, 'closed, as any live session the filter selects')
  await new Promise((resolve) => { setImmediate(resolve) })
  t.same(b.records, [], 'its token is not refused by id')
  const again = await connectSocket(url(b), { token: fresh, teardown: teardown(t) })
  t.notOk('refused' in again, 'and it opens again: it was issued after the revocation')
})

t.test('a record that covers the token, or a token id record, refuses nothing more', async (t) => {
  const clock = new FakeClock(T0)
  const b = await instance(t, clock)
  const alice = mintToken(key, { ...claimsFor(ISS, AUD, 'alice', clock.now(), 600), jti: 'tok-a' })
  const carol = mintToken(key, { ...claimsFor(ISS, AUD, 'carol', clock.now(), 600), jti: 'tok-c' })
  const a = await connectSocket(url(b), { token: alice, teardown: teardown(t) }) as SocketClient
  const c = await connectSocket(url(b), { token: carol, teardown: teardown(t) }) as SocketClient
  await b.store.revoke({ filter: { subject: 'alice' }, at: T0 + 5_000, until: T0 + 86_400_000 })
  await b.store.revoke({ filter: { tokenId: 'tok-c' }, at: T0 - 30_000, until: T0 + 86_400_000 })
  t.same([(await a.closed).code, (await c.closed).code], [4403, 4403])
  await new Promise((resolve) => { setImmediate(resolve) })
  t.same(b.records, [], 'no record added (those two came straight from the store, as another instance\'s do)')
})

t.test('a store that refuses the token id record: logged, nothing thrown into the delivery', async (t) => {
  const clock = new FakeClock(T0)
  const b = await instance(t, clock, true)
  const alice = mintToken(key, { ...claimsFor(ISS, AUD, 'alice', clock.now(), 600), jti: 'tok-1' })
  const s = await connectSocket(url(b), { token: alice, teardown: teardown(t) }) as SocketClient
  await b.store.revoke({ filter: { subject: 'alice' }, at: T0 - 30_000, until: T0 + 86_400_000 })
  t.equal((await s.closed).code, 4403)
  await until(() => b.logs.lines.length > 0, 'the failure logged')
  t.match(b.logs.text(), /could not be refused by its id/)
})

function url (i: { url: string }): string { return i.url }

t.test('a principal the app built without an expiry: its token id is refused for the retention from now; one without an iat is not pinned', async (t) => {
  const clock = new FakeClock(T0)
  const { store, records, revocations } = recordingRevocations()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  const carol: Principal = Object.freeze({ id: 'carol', issuer: ISS, kind: 'workload', method: 'jwt', scopes: [], claims: { iat: T0 / 1000 }, sessionId: 's-carol', tokenId: 'tok-carol' })
  app.decorateRequest('principal', null as never)
  // dave's principal has no iat (the app's own authentication): nothing tells when it was issued.
  const dave: Principal = Object.freeze({ ...carol, id: 'dave', claims: {}, tokenId: 'tok-dave' })
  app.addHook('onRequest', async (req) => { req.principal = (req.query as { who?: string }).who === 'dave' ? dave : carol })
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
  const s = await connectSocket(base, { teardown: teardown(t) }) as SocketClient
  const d = await connectSocket(`${base}?who=dave`, { teardown: teardown(t) }) as SocketClient
  await store.revoke({ filter: { issuer: ISS }, at: T0 - 30_000, until: T0 + 60_000 })
  t.same([(await s.closed).code, (await d.closed).code], [4403, 4403])
  await until(() => records.length > 0, 'the token id recorded')
  t.same(records.map((r) => [r.filter, r.until]), [[{ tokenId: 'tok-carol' }, T0 + 86_400_000]], 'until now plus revocationRetentionMs (its default, a day); dave\'s, with no iat, is not pinned')
})
