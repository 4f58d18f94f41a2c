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
  t.equal(store.size, 1, 'records past their until are pruned on the next revoke')
})

t.test('the memory registry', async (t) => {
  const r = new MemorySessionRegistry()
  const info = { id: 'c1', route: '/feed', remoteAddress: '127.0.0.1', principal: p(), openedAt: 1, deadline: 2, instance: 'i' }
  r.add(info)
  r.update({ ...info, deadline: 3 })
  r.update({ ...info, id: 'unknown' })
  t.same(r.list().map((s) => [s.id, s.deadline]), [['c1', 3]], 'update of an unknown id adds nothing')
  t.same(r.list({ subject: 'alice' }).length, 1)
  t.same(r.list({ sessionId: 'c1' }).length, 1)
  t.same(r.list({ sessionId: 'sid-1' }).length, 1)
  t.same(r.list({ tokenId: 'nope' }).length, 0)
  r.remove('c1')
  t.same(r.list(), [])
  r.add({ ...info, principal: null })
  t.same(r.list({ subject: 'alice' }), [], 'an anonymous session matches no subject')
})
