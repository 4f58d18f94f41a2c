// Found by session 22's review: each accepted back-channel logout is a revocation record kept
// for revocationRetentionMs (24 h), and the in-memory store had no bound: the replay store's cap
// (10,000 jti for about 2 min each) let one trusted IdP leave 10,000 more records every two
// minutes, each holding a sid of up to maxTokenBytes. sid and sub are now at most 255
// characters (auth-handshake), and the store keeps at most maxRecords in force.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import Fastify from 'fastify'
import { backchannelLogout, BACKCHANNEL_LOGOUT_EVENT, MemoryReplayStore } from '@wsguard/auth-handshake'
import { FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'
import { DEFAULT_MAX_REVOCATION_RECORDS, MemoryRevocationStore } from '../src/index.js'

const ISS = 'https://tenant-b-idp.test'
const CLIENT = 'feed-web'
const key = generateKey('ES256')
const revocation = (subject: string, at: number, until: number): Parameters<MemoryRevocationStore['revoke']>[0] => ({ filter: { subject }, at, until })

t.test('maxRecords in force at most: one more is refused, recording and delivering nothing; records past their until make room', async (t) => {
  const store = new MemoryRevocationStore({ maxRecords: 3 })
  const delivered: string[] = []
  store.subscribe((r) => { delivered.push((r.filter as { subject: string }).subject) })
  await store.revoke(revocation('a', 1_000, 2_000))
  await store.revoke(revocation('b', 1_000, 9_000))
  await store.revoke(revocation('c', 1_000, 9_000))
  await t.rejects(store.revoke(revocation('d', 1_500, 9_000)), /MemoryRevocationStore: 3 records in force \(maxRecords\); refusing rather than growing without bound/)
  t.same(delivered, ['a', 'b', 'c'], 'the refused one reached no listener')
  t.equal(store.isRevoked({ id: 'd', sessionId: 'x', claims: { iat: 1 } } as never, 1_600), false, 'nor the records')
  await store.revoke(revocation('d', 2_001, 9_000))
  t.equal(store.size, 3, 'a\'s record, past its until, made room')
  t.equal(store.isRevoked({ id: 'd', sessionId: 'x', claims: { iat: 1 } } as never, 2_100), true)
})

t.test('maxRecords: the default, and what is refused', async (t) => {
  t.equal(DEFAULT_MAX_REVOCATION_RECORDS, 100_000)
  for (const maxRecords of [0, -1, 1.5, Number.NaN, '10' as unknown as number]) {
    t.throws(() => new MemoryRevocationStore({ maxRecords }), { code: 'WSG_INVALID_OPTION', message: /MemoryRevocationStore: opts\.maxRecords must be an integer, 1 or more/ })
  }
})

t.test('a full store: a further back-channel logout is 503 (its IdP retries), not a record kept without bound', async (t) => {
  const clock = new FakeClock(1_800_000_000_000)
  const revocations = new MemoryRevocationStore({ maxRecords: 20 })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(backchannelLogout, {
    issuers: { issuer: ISS, audience: CLIENT, algorithms: ['ES256'], jwks: jwks(key) },
    revocations,
    replays: new MemoryReplayStore({ clock }),
    clock
  })
  await app.ready()
  const statuses: number[] = []
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 10; i++) {
      const iat = Math.floor(clock.now() / 1000)
      const token = mintToken(key, { iss: ISS, aud: CLIENT, iat, exp: iat + 120, jti: randomUUID(), sub: 'bob', sid: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }, { header: { typ: 'logout+jwt' } })
      const res = await app.inject({ method: 'POST', url: '/oidc/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ logout_token: token }).toString() })
      statuses.push(res.statusCode)
    }
    // Past the logout tokens' age limit: their jti may be forgotten, the records may not.
    clock.advance(130_000)
  }
  t.same(statuses, [...Array(20).fill(200), ...Array(10).fill(503)], 'the first 20 applied, then 503')
  t.equal(revocations.size, 20)
})
