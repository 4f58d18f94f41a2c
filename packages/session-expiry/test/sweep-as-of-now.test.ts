// Found by session 22's second review: the in-memory store dropped expired records as of the
// new revocation's `at`, which runs ahead of now (wsSessions.revoke dates a record a clock
// tolerance ahead; a logout is dated by the IdP's iat, accepted up to the tolerance ahead), so
// a record still in force was dropped and its token accepted again. Now as of the earlier of
// that date and this machine's clock.
import t from 'tap'
import { MemoryRevocationStore } from '../src/index.js'

const principal = (id: string, now: number): never => ({ id, sessionId: `s-${id}`, claims: { iat: (now - 3_600_000) / 1000 } }) as never

t.test('a full store keeps a record in force now when the revocation it refuses is dated ahead', async (t) => {
  const now = Date.now()
  const store = new MemoryRevocationStore({ maxRecords: 2 })
  await store.revoke({ filter: { subject: 'alice' }, at: now - 1_000, until: now + 30_000 })
  await store.revoke({ filter: { subject: 'bob' }, at: now, until: now + 86_400_000 })
  await t.rejects(store.revoke({ filter: { subject: 'carol' }, at: now + 60_000, until: now + 86_400_000 }), /maxRecords/)
  t.equal(store.isRevoked(principal('alice', now), now), true, 'alice is still refused')
})

t.test('the sweep as the count doubles keeps a record in force now, whatever the new one\'s date', async (t) => {
  const now = Date.now()
  const store = new MemoryRevocationStore()
  await store.revoke({ filter: { subject: 'alice' }, at: now - 1_000, until: now + 30_000 })
  for (let i = 0; i < 63; i++) await store.revoke({ filter: { subject: `u${i}` }, at: now, until: now + 86_400_000 })
  await store.revoke({ filter: { subject: 'carol' }, at: now + 60_000, until: now + 86_400_000 })
  t.equal(store.size, 65, 'nothing dropped')
  t.equal(store.isRevoked(principal('alice', now), now), true)
})
