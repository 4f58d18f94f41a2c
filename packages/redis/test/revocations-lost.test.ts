import t from 'tap'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { aliceRevoked, deleteKeys, principal, REDIS_URL, revocation, revokedThenCutOff } from './helpers.js'

// Redis loses its keys (FLUSHALL, a restart without persistence, a failover to a replica that
// never had them; here the prefix's keys are deleted, as FLUSHALL would). Found by session 20's
// adversarial review: the instances running kept refusing from their mirrors, but nothing wrote
// the records back, so an instance started afterwards (a deploy, autoscaling) loaded nothing and
// accepted every token revoked before. Now an instance that finds them gone writes back the
// records its mirror holds that are still in force.

t.test('keys lost, then another revocation: the count going back tells the loss, and the records are written back', async (t) => {
  const warned: string[] = []
  const logger = { warn (_obj: unknown, msg: string) { warned.push(msg) }, info () {} }
  const { a, client, keyPrefix } = await aliceRevoked(t, { logger })
  await deleteKeys(client, keyPrefix)
  await a.revocations.revoke(revocation({ subject: 'bob' }))
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 2, 'alice\'s record written back beside bob\'s')
  t.ok(await client.pttl(`{${keyPrefix}}revoked`) > 0, 'the records key expires with its latest record, as REVOKE keeps it')
  const c = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(c.revocations.isRevoked(principal('bob'), Date.now()), true, 'C refuses bob (revoked after the loss)')
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), true, 'C, started after the loss, refuses alice too')
  t.ok(warned.some((m) => /Redis had lost its revocation records; this instance wrote back those still in force/.test(m)), 'said once it happened')
})

t.test('keys lost and nothing revoked since: the next idle read finds the records gone and writes them back', async (t) => {
  const { a, client, keyPrefix } = await aliceRevoked(t, { blockMs: 50 })
  // One record past its `until` is not written back.
  await a.revocations.revoke({ ...revocation({ subject: 'gone' }), until: Date.now() - 1 })
  await deleteKeys(client, keyPrefix)
  await until(async () => await client.exists(`{${keyPrefix}}revoked`) === 1, 'the records written back')
  const c = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), true, 'a new instance refuses alice')
  t.equal(await client.zcard(`{${keyPrefix}}revoked`), 1, 'only the record still in force')
})

// Found by the review of this change: Redis restarts without persistence (connections cut, keys
// gone). The instance reconnects and loads the records again, and a revocation lands before its
// first idle read: the records key exists again, so only the count can tell the loss.
t.test('a restart without persistence, then a revocation at once: the lost records are written back', async (t) => {
  const { a, client, keyPrefix } = await revokedThenCutOff(t, async (client, keyPrefix) => await deleteKeys(client, keyPrefix))
  await a.revocations.revoke(revocation({ subject: 'bob' }))
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 2, 'alice\'s record written back beside bob\'s')
  const c = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), true, 'an instance started now refuses alice')
})
