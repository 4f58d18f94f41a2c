// Found by session 21's third review; an until past JavaScript's last date is now kept until that date.
import t from 'tap'
import type { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, deleteKeys, principal, revocation, testClient, testPrefix } from './helpers.js'

// Before: the key's TTL was the highest score, and PEXPIREAT takes a signed 64-bit integer. A
// record whose `until` was 2^63 ms or more (a JWT exp >= ~9.2e15 s: session-expiry's token-id
// record is ceil(exp*1000 + retention)) made every later REVOKE and RESTORE fail after their
// writes: every revoke() rejected, and after a loss the write-back threw on every try, so the
// instance failed closed over and over.

t.test('a record with an until past 2^63 ms is kept until JavaScript\'s last date; later revocations and write-backs go on', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const a = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 50 })
  t.teardown(() => a.close())
  await a.ready()
  let huge: unknown
  await a.revocations.revoke(revocation({ tokenId: 'jti-huge' }, 1e19)).catch((e: unknown) => { huge = e })
  t.equal(huge, undefined, `revoke with until 1e19 resolves (got ${String(huge)})`)
  let later: unknown
  await a.revocations.revoke(revocation({ subject: 'alice' })).catch((e: unknown) => { later = e })
  t.equal(later, undefined, `a later ordinary revoke resolves (got ${String(later)})`)

  t.ok(await client.pttl(`{${keyPrefix}}revoked`) > 0, 'the records key keeps a TTL (JavaScript\'s last date)')
  await deleteKeys(client, keyPrefix) // restart without persistence
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 2, 'both written back')
  // Its own `restored` entry, numbered from a count that started again, makes it load once more.
  await until(() => a.revocations.current, 'A current again after its write-back')
  t.doesNotThrow(() => a.revocations.isRevoked(principal('bob'), Date.now()), 'A answers handshakes')
  await t.rejects(a.revocations.revoke(revocation({ subject: 'bob' }, Number.NaN)), { name: 'TypeError', message: /revocation.until must be a number/ }, 'a NaN until is refused, and nothing applied')
  t.equal(a.revocations.isRevoked(principal('bob'), Date.now()), false)
})
