import t from 'tap'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { aliceRevoked, principal, REDIS_URL, revocation, revokedThenCutOff, testClient, testPrefix } from './helpers.js'

// The records key is the only key of the store with a TTL, so a Redis under memory pressure
// with a volatile-* policy evicts it first, alone (under allkeys-lru it is the one read least).
// The next revocation's ZADD made the key again, holding only itself: the instances running
// kept refusing from their mirrors, and nothing noticed, so an instance started afterwards
// loaded the one record and accepted every token revoked before the eviction.

t.test('the records key evicted alone, then another revocation: the lost records are written back', async (t) => {
  const { a, client, keyPrefix } = await aliceRevoked(t, { blockMs: 50 })
  await client.del(`{${keyPrefix}}revoked`)
  await a.revocations.revoke(revocation({ subject: 'bob' }))
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 2, 'alice\'s record written back beside bob\'s')
  const c = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), true, 'an instance started after the eviction refuses alice')
  t.equal(c.revocations.isRevoked(principal('bob'), Date.now()), true)
})

t.test('an instance started while the records are lost waits (fail-closed) for one that holds them to write them back', async (t) => {
  const { client, keyPrefix } = await aliceRevoked(t, { blockMs: 500 })
  await client.del(`{${keyPrefix}}revoked`)
  // C loads at once; A asks within its blockMs.
  const c = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => c.close())
  await c.ready()
  t.equal(c.revocations.isRevoked(principal('alice'), Date.now()), true, 'C refuses alice: it loaded once A wrote her back')
})

t.test('nobody holds the lost records: a new instance waits two checks, then goes on with what Redis holds, and says so', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix)
  const a = redisStores({ url: REDIS_URL }, { keyPrefix })
  await a.ready()
  await a.revocations.revoke(revocation({ subject: 'alice' }))
  await a.close()
  await client.del(`{${keyPrefix}}revoked`)
  const warned: string[] = []
  const logger = { warn (_obj: unknown, msg: string) { warned.push(msg) }, info () {} }
  const started = Date.now()
  const c = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 20, commandTimeoutMs: 40, logger })
  t.teardown(() => c.close())
  const down = new Promise((resolve) => { c.events.once('unavailable', resolve) })
  await down
  t.throws(() => c.revocations.isRevoked(principal('bob'), Date.now()), /not current/, 'fail-closed while it waits')
  await c.ready()
  t.ok(Date.now() - started >= 2 * (20 + 40), 'it waited two checks')
  t.ok(warned.some((m) => /Redis lost its revocation records and no instance wrote them back within 120 ms; going on with those it holds/.test(m)), 'said so')
  t.equal(c.revocations.isRevoked(principal('bob'), Date.now()), false)
})

t.test('a records key Redis expired by its own clock is not taken for lost, whatever this instance\'s clock says', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix)
  const warned: string[] = []
  const logger = { warn (_obj: unknown, msg: string) { warned.push(msg) }, info () {} }
  const a = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 10, logger })
  t.teardown(() => a.close())
  await a.ready()
  t.match(warned, [/no revocation bookkeeping/], 'a new prefix: a new deployment, said once')
  warned.length = 0
  await a.revocations.revoke(revocation({ subject: 'alice' }))
  // Redis's clock ahead of this instance's: by Redis's, the latest until has passed and the key expired.
  await client.multi().del(`{${keyPrefix}}revoked`).hset(`{${keyPrefix}}revoked:meta`, 'until', String(Date.now() - 1_000)).exec()
  const monitor = await (client as import('ioredis').Redis).monitor()
  t.teardown(() => monitor.disconnect())
  let checks = 0
  monitor.on('monitor', (_time: string, args: string[]) => { if (args.includes(`{${keyPrefix}}revoked:meta`) && args.length === 5) checks++ })
  await until(() => checks >= 3, 'three checks by A')
  t.equal(await client.exists(`{${keyPrefix}}revoked`), 0, 'nothing written back')
  t.same(warned, [])
})

t.test('evicted while this instance was cut off: it asks as it is back, and writes its records back', async (t) => {
  const { client, keyPrefix } = await revokedThenCutOff(t, async (client, keyPrefix) => await client.del(`{${keyPrefix}}revoked`))
  t.equal(await client.zcard(`{${keyPrefix}}revoked`), 1, 'written back before it counted itself current again')
})

t.test('evicted and the stream trimmed past it while cut off: the load tells the loss, and the records are written back', async (t) => {
  const { client, keyPrefix } = await revokedThenCutOff(t, async (client, keyPrefix) => {
    // The records key evicted, and the entries the instance had not read trimmed: it loads again.
    await client.del(`{${keyPrefix}}revoked`)
    await client.xadd(`{${keyPrefix}}revocations`, '*', 'x', '1')
    await client.xtrim(`{${keyPrefix}}revocations`, 'MAXLEN', 0)
  })
  t.equal(await client.zcard(`{${keyPrefix}}revoked`), 1, 'written back before it counted itself current again')
})

// Found by session 21's second review: the first mark was a key with a short TTL of its own,
// which a volatile-ttl eviction takes first, under the same pressure that took the records.
t.test('the loss is marked in a key without a TTL: an instance started later still tells it', async (t) => {
  const { a, client, keyPrefix } = await aliceRevoked(t)
  await a.close()
  await client.del(`{${keyPrefix}}revoked`) // evicted (volatile-*)
  // B starts while they are lost, waits, goes on, and revokes bob: it writes back what it
  // holds, but its mirror may lack some, so the mark stays for those that hold them.
  const b = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 20, commandTimeoutMs: 40 })
  t.teardown(() => b.close())
  await b.ready()
  await b.revocations.revoke(revocation({ subject: 'bob' }))
  t.ok(Number(await client.hget(`{${keyPrefix}}revoked:meta`, 'lost')) > 0, 'the revocation found the key lost and marked it')
  await until(async () => await client.exists(`{${keyPrefix}}revoked`) === 1, 'B\'s records written back')
  t.ok(Number(await client.hget(`{${keyPrefix}}revoked:meta`, 'lost')) > 0, 'B, holding only part of them, left the mark')
  t.equal(await client.pttl(`{${keyPrefix}}revoked:meta`), -1, 'in a key no volatile-* policy evicts')
  const warned: string[] = []
  const logger = { warn (_obj: unknown, msg: string) { warned.push(msg) }, info () {} }
  // The mark counts for C's wait (here 2 × (500 + 40) ms) from when it was set.
  const c = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 500, commandTimeoutMs: 40, logger })
  t.teardown(() => c.close())
  await c.ready()
  t.ok(warned.some((m) => /Redis lost its revocation records and no instance wrote them back/.test(m)), 'the loss is told')
  // Later still, past D's own wait since the mark: D goes on at once, and tells it too.
  const told: string[] = []
  const d = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 20, commandTimeoutMs: 40, logger: { warn (_obj: unknown, msg: string) { told.push(msg) }, info () {} } })
  t.teardown(() => d.close())
  await d.ready()
  t.ok(told.some((m) => /Redis lost its revocation records and no instance wrote them back/.test(m)), 'told by every instance that starts while what was lost may be in force')
  // Lost again: those partial instances write back what they hold, and leave the mark.
  await client.del(`{${keyPrefix}}revoked`)
  await until(async () => await client.exists(`{${keyPrefix}}revoked`) === 1, 'written back again')
  t.ok(Number(await client.hget(`{${keyPrefix}}revoked:meta`, 'lost')) > 0, 'the mark stays')
})
