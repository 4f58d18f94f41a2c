import t from 'tap'
import type { Principal } from '@wsguard/core'
import { MemoryRevocationStore, MemorySessionRegistry } from '../src/index.js'

const p = (over: Partial<Principal> & { iat?: number } = {}): Principal => ({
  id: 'alice', kind: 'user', method: 'jwt', issuer: 'https://idp.test', scopes: [], sessionId: 'sid-1', tokenId: 'j1', ...over, claims: over.iat === undefined ? {} : { iat: over.iat }
})

t.test('the memory revocation store', async (t) => {
  const store = new MemoryRevocationStore()
  const delivered: unknown[] = []
  const off = store.subscribe((r) => delivered.push(r.filter))
  await store.revoke({ filter: { tokenId: 'j1' }, at: 1000, until: 5000 })
  t.equal(store.isRevoked(p(), 4000), true, 'the token id, before until')
  t.equal(store.isRevoked(p(), 5001), false, 'forgotten after until')
  t.equal(store.isRevoked(p({ tokenId: 'j2' }), 4000), false)
  await store.revoke({ filter: { subject: 'bob', issuer: 'https://idp.test' }, at: 10_000, until: 20_000 })
  t.equal(store.isRevoked(p({ id: 'bob', iat: 10 }), 11_000), true, 'issued at the revocation second')
  t.equal(store.isRevoked(p({ id: 'bob', iat: 11 }), 11_000), false, 'issued after')
  t.equal(store.isRevoked(p({ id: 'bob' }), 11_000), true, 'no iat: counted as old')
  t.equal(store.isRevoked(p({ id: 'bob', issuer: 'https://other.test', iat: 1 }), 11_000), false, 'another issuer')
  off()
  await store.revoke({ filter: { issuer: 'https://x.test' }, at: 30_000, until: 40_000 })
  t.same(delivered, [{ tokenId: 'j1' }, { subject: 'bob', issuer: 'https://idp.test' }], 'unsubscribed listeners get nothing')
  t.equal(store.size, 3, 'records past their until are kept until a sweep, and never counted')
})

t.test('the memory revocation store: each kind of filter, by its own index', async (t) => {
  const store = new MemoryRevocationStore()
  await store.revoke({ filter: { sessionId: 'sid-9' }, at: 10_000, until: 20_000 })
  await store.revoke({ filter: { subject: 'carol' }, at: 10_000, until: 20_000 })
  await store.revoke({ filter: { issuer: 'https://bad.test' }, at: 10_000, until: 20_000 })
  t.equal(store.isRevoked(p({ sessionId: 'sid-9', iat: 9 }), 11_000), true, 'a session, token issued before')
  t.equal(store.isRevoked(p({ sessionId: 'sid-9', iat: 11 }), 11_000), false, 'a session, token issued after')
  t.equal(store.isRevoked(p({ id: 'carol', issuer: 'https://any.test', iat: 9 }), 11_000), true, 'a subject without issuer: every issuer')
  t.equal(store.isRevoked(p({ issuer: 'https://bad.test', iat: 9 }), 11_000), true, 'an issuer')
  t.equal(store.isRevoked(p({ issuer: undefined, iat: 9 }), 11_000), false, 'a principal without issuer matches no issuer record')
  t.equal(store.isRevoked(p({ tokenId: undefined, iat: 9 }), 11_000), false, 'a principal without token id, nothing else revoked')
  t.equal(store.isRevoked(p({ sessionId: 'sid-9', iat: 9 }), 20_001), false, 'past until')
})

t.test('the memory revocation store: many records, and the sweep of old ones', async (t) => {
  const store = new MemoryRevocationStore()
  // A logout wave: 10,000 token ids, each revoked at ms i for 100 ms. Memory follows the live
  // records (about 100 at any time), not the number ever revoked.
  let largest = 0
  for (let i = 0; i < 10_000; i++) {
    await store.revoke({ filter: { tokenId: `j-${i}` }, at: i, until: i + 100 })
    largest = Math.max(largest, store.size)
  }
  t.ok(largest <= 400, `at most ${largest} records kept at once`)
  t.equal(store.isRevoked(p({ tokenId: 'j-9950' }), 9999), true, 'a live record among thousands')
  t.equal(store.isRevoked(p({ tokenId: 'j-10' }), 9999), false, 'a record past its until')
  t.equal(store.isRevoked(p({ tokenId: 'j-10000' }), 9999), false, 'never revoked')
  // Two records for one subject: a sweep drops the expired one and keeps the live one.
  await store.revoke({ filter: { subject: 'dan' }, at: 10_000, until: 10_050 })
  await store.revoke({ filter: { subject: 'dan' }, at: 10_000, until: 90_000 })
  for (let i = 0; i < 500; i++) await store.revoke({ filter: { sessionId: `s-${i}` }, at: 20_000 + i, until: 20_001 + i })
  t.ok(store.size < 500, `the sweep ran (${store.size} kept)`)
  t.equal(store.isRevoked(p({ id: 'dan', iat: 5 }), 20_500), true, 'the live record of a subject survives the sweep')
  t.equal(store.isRevoked(p({ tokenId: 'j-9950' }), 20_500), false)
})

t.test('the memory registry', async (t) => {
  const r = new MemorySessionRegistry()
  const info = { id: 'c1', route: '/feed', remoteAddress: '127.0.0.1', principal: p(), openedAt: 1, deadline: 2, instance: 'i' }
  r.add(info)
  r.update({ ...info, deadline: 3 })
  r.update({ ...info, id: 'unknown' })
  t.same(r.list().map((s) => [s.id, s.deadline]), [['c1', 3]], 'update of an unknown id adds nothing')
  t.same(r.list({ subject: 'alice' }).length, 1)
  t.same(r.list({ subject: 'alice', issuer: 'https://other.test' }).length, 0, 'a subject of another issuer')
  t.same(r.list({ sessionId: 'c1' }).length, 1)
  t.same(r.list({ sessionId: 'sid-1' }).length, 1)
  t.same(r.list({ sessionId: 'sid-1', issuer: 'https://idp.test' }).length, 1)
  t.same(r.list({ sessionId: 'sid-1', issuer: 'https://other.test' }).length, 0, 'the same sid at another issuer')
  t.same(r.list({ tokenId: 'nope' }).length, 0)
  t.same(r.list({ issuer: 'https://idp.test' }).length, 1)
  r.remove('c1')
  t.same(r.list(), [])
  r.add({ ...info, principal: null })
  t.same(r.list({ subject: 'alice' }), [], 'an anonymous session matches no subject')
  t.same(r.list({ sessionId: 'c1' }).length, 1, 'its connection id still selects it')
  t.same(r.list({ sessionId: 'c1', issuer: 'https://idp.test' }), [], 'but not with an issuer: it has none')
})
