import t from 'tap'
import { RevocationIndex, type Principal, type Revocation } from '../src/index.js'

const T = 1_800_000_000_000
const principal = (over: Partial<Principal> = {}, iat: number | undefined = T / 1000 - 10): Principal => Object.freeze({
  id: 'alice',
  kind: 'user',
  method: 'jwt',
  issuer: 'https://idp.test',
  scopes: [],
  sessionId: 'sid-1',
  tokenId: 'jti-1',
  claims: iat === undefined ? {} : { iat },
  ...over
})
const rev = (filter: Revocation['filter'], at = T, until = T + 60_000): Revocation => ({ filter, at, until })

t.test('each kind of record refuses what it selects, until its until, and only tokens issued before it (but token ids)', async (t) => {
  const index = new RevocationIndex()
  t.equal(index.isRevoked(principal(), T), false, 'nothing kept')
  index.add(rev({ tokenId: 'jti-1' }), T)
  t.equal(index.isRevoked(principal({}, T / 1000 + 5), T), true, 'a token id whenever it was issued')
  t.equal(index.isRevoked(principal({ tokenId: 'jti-2' }), T), false)
  t.equal(index.isRevoked(principal(), T + 60_001), false, 'past its until')

  index.add(rev({ subject: 'bob', issuer: 'https://other.test' }), T)
  t.equal(index.isRevoked(principal({ id: 'bob', tokenId: undefined }), T), false, 'a subject of another issuer')
  index.add(rev({ subject: 'bob' }), T)
  t.equal(index.isRevoked(principal({ id: 'bob', tokenId: undefined }), T), true, 'a subject of any issuer')
  t.equal(index.isRevoked(principal({ id: 'bob', tokenId: undefined }, T / 1000 + 1), T), false, 'a token issued after')
  t.equal(index.isRevoked(principal({ id: 'bob', tokenId: undefined }, undefined), T), true, 'no iat: issued long ago')
  t.equal(index.isRevoked(principal({ id: 'bob', tokenId: undefined }, Number.POSITIVE_INFINITY), T), true, 'an iat that is no time: the same')

  index.add(rev({ sessionId: 'sid-9' }), T)
  t.equal(index.isRevoked(principal({ sessionId: 'sid-9', tokenId: undefined }), T), true, 'a session')
  index.add(rev({ sessionId: 'sid-7', issuer: 'https://other.test' }), T)
  t.equal(index.isRevoked(principal({ sessionId: 'sid-7', tokenId: undefined }), T), false, 'a session of another issuer (one sid, two issuers)')
  t.equal(index.isRevoked(principal({ sessionId: 'sid-7', tokenId: undefined, issuer: undefined }), T), false, 'nor a principal without issuer')
  t.equal(index.isRevoked(principal({ sessionId: 'sid-7', tokenId: undefined, issuer: 'https://other.test' }), T), true, 'that issuer\'s session')
  index.add(rev({ issuer: 'https://gone.test' }), T)
  t.equal(index.isRevoked(principal({ issuer: 'https://gone.test', tokenId: undefined }), T), true, 'an issuer')
  t.equal(index.isRevoked(principal({ issuer: undefined, tokenId: undefined }), T), false, 'a principal without issuer')
  t.equal(index.size, 6)
})

t.test('expired records are swept when the count has doubled since the last sweep', async (t) => {
  const index = new RevocationIndex()
  index.add(rev({ tokenId: 'kept' }, T, T + 60_000), T)
  for (let i = 0; i < 62; i++) index.add(rev({ tokenId: `old-${i}` }, T, T + 1), T)
  index.add(rev({ tokenId: 'kept' }, T, T + 1), T) // an expired record beside a kept one under the same key
  t.equal(index.size, 64)
  index.add(rev({ tokenId: 'new' }, T, T + 60_000), T + 10)
  t.equal(index.size, 2, 'the 63 expired ones are gone: the kept one and the new one remain')
  t.equal(index.isRevoked(principal({ tokenId: 'kept' }), T + 10), true)
  t.equal(index.isRevoked(principal({ tokenId: 'old-1' }), T + 10), false)
})

t.test('sweep(now) drops the records past their until at once, whatever the count', async (t) => {
  const index = new RevocationIndex()
  index.add(rev({ tokenId: 'old' }, T, T + 1), T)
  index.add(rev({ subject: 'kept' }, T, T + 60_000), T)
  index.sweep(T + 10)
  t.equal(index.size, 1)
  t.equal(index.isRevoked(principal({ id: 'kept' }), T + 10), true)
})
