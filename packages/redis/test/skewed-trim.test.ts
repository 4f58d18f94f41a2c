// Found by session 21's third review; records are now dropped only once past by both the revoker's clock and Redis's.
import t from 'tap'
import type { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, principal, revocation, testClient, testPrefix } from './helpers.js'

// Before, REVOKE trimmed the records by the revoking instance's Date.now() alone. An instance
// whose clock runs ahead (here 1 h) deleted records still in force by Redis's and every other
// instance's clock. The key stayed, unmarked: nobody wrote them back, and instances started
// afterwards accepted those tokens, without a word.

t.test('a revocation from an instance whose clock is ahead drops no record still in force', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const a = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 50 })
  t.teardown(() => a.close())
  const b = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 50 })
  t.teardown(() => b.close())
  await Promise.all([a.ready(), b.ready()])
  await a.revocations.revoke(revocation({ subject: 'alice' }, Date.now() + 10 * 60_000)) // in force 10 min

  // B's host clock is 1 h ahead while it revokes bob (the args are taken synchronously).
  const real = Date.now
  Date.now = () => real() + 3_600_000
  const p = b.revocations.revoke(revocation({ subject: 'bob' }, real() + 2 * 3_600_000))
  Date.now = real
  await p

  const monitor = await client.monitor()
  t.teardown(() => monitor.disconnect())
  let checks = 0
  monitor.on('monitor', (_time: string, args: string[]) => { if (String(args[0]).toLowerCase() === 'evalsha' && args.length === 5 && args.includes(`{${keyPrefix}}revoked:meta`)) checks++ })
  await until(() => checks >= 4, 'a few checks by A and B')

  const c = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(a.revocations.isRevoked(principal('alice'), Date.now()), true, 'A (correct clock) refuses alice')
  t.same(await client.zrange(`{${keyPrefix}}revoked`, '0', '-1').then((r) => r.map((j) => (JSON.parse(String(j)) as { filter: { subject: string } }).filter.subject)), ['alice', 'bob'], 'alice\'s record still in Redis')
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), true, 'C, started afterwards with a correct clock, refuses alice')
})
