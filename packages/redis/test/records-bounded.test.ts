// Session 22: each back-channel logout is a revocation record every instance keeps for the
// retention (24 h), so a trusted IdP posting logouts grew every instance's mirror and Redis
// without bound. An instance refuses to issue one more past maxRevocationRecords in force.
import t from 'tap'
import type { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, principal, revocation, testClient, testPrefix } from './helpers.js'

t.test('past maxRevocationRecords in force, revoke() rejects: nothing applied, written or delivered; records past their until make room', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const a = redisStores({ url: REDIS_URL }, { keyPrefix, maxRevocationRecords: 3 })
  const b = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(async () => { await a.close(); await b.close() })
  await Promise.all([a.ready(), b.ready()])
  const soon = revocation({ subject: 'u0' }, Date.now() + 300)
  await a.revocations.revoke(soon)
  await a.revocations.revoke(revocation({ subject: 'u1' }))
  const u2 = revocation({ subject: 'u2' })
  await a.revocations.revoke(u2)
  await t.rejects(a.revocations.revoke(revocation({ subject: 'u3' })), /3 revocation records in force \(maxRevocationRecords\); refusing rather than growing without bound/)
  t.equal(a.revocations.isRevoked(principal('u3'), Date.now()), false, 'not applied here')
  t.equal(await client.zcard(`{${keyPrefix}}revoked`), 3, 'nor written')
  await t.resolves(a.revocations.revoke(u2), 'the same record again is no more, and is not refused')
  await until(() => b.revocations.isRevoked(principal('u2'), Date.now()), 'b has the others')
  t.equal(b.revocations.isRevoked(principal('u3'), Date.now()), false, 'nor delivered')
  // u0's record ends: it makes room.
  await until(() => Date.now() > soon.until, 'u0\'s record past its until')
  await a.revocations.revoke(revocation({ subject: 'u3' }))
  t.equal(a.revocations.isRevoked(principal('u3'), Date.now()), true)
})

t.test('records from other instances are always applied, past the bound', async (t) => {
  const keyPrefix = testPrefix()
  const a = redisStores({ url: REDIS_URL }, { keyPrefix })
  const b = redisStores({ url: REDIS_URL }, { keyPrefix, maxRevocationRecords: 1 })
  t.teardown(async () => { await a.close(); await b.close() })
  await Promise.all([a.ready(), b.ready()])
  for (const s of ['v0', 'v1', 'v2']) await a.revocations.revoke(revocation({ subject: s }))
  await until(() => ['v0', 'v1', 'v2'].every((s) => b.revocations.isRevoked(principal(s), Date.now())), 'b applied all three')
  await t.rejects(b.revocations.revoke(revocation({ subject: 'v3' })), /maxRevocationRecords/, 'while b issues none beyond it')
})
