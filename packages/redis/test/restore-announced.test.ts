// Found by session 21's third review; a write-back now ends with a `restored` stream entry, which makes every instance load the records again.
import t from 'tap'
import type { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, deleteKeys, principal, revocation, testClient, testPrefix } from './helpers.js'

// Redis restarts without persistence (all the prefix's keys gone, as deleteKeys does here).
// Instance A holds alice's revocation and will write it back at its next idle check (blockMs).
// Instance C starts (a deploy, autoscaling) in between: its LOAD finds nothing and no sign of
// loss (the meta hash is gone too), so it goes current with an empty mirror. A then writes alice
// back with RESTORE, which touches only the sorted set, never the stream: C, which reads only the
// stream once loaded, never learns of alice. C accepts alice's token until it restarts.

t.test('an instance that loaded while the records were lost gets them once another writes them back', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const a = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 1_500 })
  t.teardown(() => a.close())
  await a.ready()
  await a.revocations.revoke(revocation({ subject: 'alice' }, Date.now() + 600_000))
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 1, 'alice recorded')

  await deleteKeys(client, keyPrefix) // restart without persistence / FLUSHALL
  const warned: string[] = []
  const c = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 50, logger: { warn (_o: unknown, m: string) { warned.push(m) }, info () {} } })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(c.revocations.current, true, 'C is current (no fail-closed wait)')

  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 1, 'A wrote alice back', { timeoutMs: 10_000 })
  // Give C several of its own stream reads after the write-back.
  const monitor = await client.monitor()
  t.teardown(() => monitor.disconnect())
  let reads = 0
  monitor.on('monitor', (_time: string, args: string[]) => { if (String(args[0]).toLowerCase() === 'xread' && args.includes(`{${keyPrefix}}revocations`)) reads++ })
  await until(() => reads >= 6, 'several XREADs by C after the write-back')

  t.equal(a.revocations.isRevoked(principal('alice'), Date.now()), true, 'A refuses alice')
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), true, 'C refuses alice once A has written her back to Redis')
})
