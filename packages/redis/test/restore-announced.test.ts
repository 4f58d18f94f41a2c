// Found by session 21's third review; a write-back now ends with a `restored` stream entry, which makes every instance load the records again.
import t from 'tap'
import type { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, deleteKeys, principal, revocation, testClient, testPrefix } from './helpers.js'

// Redis restarts without persistence (all the prefix's keys gone, as deleteKeys does here).
// Instance A holds alice's revocation and writes it back at its next idle check (blockMs).
// Instance C starts (a deploy, autoscaling) in between: its LOAD finds nothing and no sign of
// loss (the meta hash is gone too), so it goes current with an empty mirror. Before, A's RESTORE
// touched only the sorted set, never the stream, and C, which reads only the stream once
// loaded, never learnt of alice: it accepted her token until it restarted. (Until A writes her
// back, C accepts it: nothing in Redis tells that loss; see the threat model's Y8.)

t.test('an instance that loaded while the records were lost gets them once another writes them back', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const a = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 1_500 })
  t.teardown(() => a.close())
  await a.ready()
  await a.revocations.revoke(revocation({ subject: 'alice' }, Date.now() + 600_000))
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 1, 'alice recorded')

  await deleteKeys(client, keyPrefix) // restart without persistence / FLUSHALL
  const c = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 50 })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), false, 'C loaded while alice was lost')

  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 1, 'A wrote alice back', { timeoutMs: 10_000 })
  // The write-back's `restored` entry makes C load again.
  await until(() => c.revocations.isRevoked(principal('alice'), Date.now()), 'C refuses alice once A has written her back')
  t.equal(c.revocations.current, true, 'C stayed current')
})
