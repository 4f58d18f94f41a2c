import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { redisStores, REGISTRY_MAX_BATCH_WRITES, type RedisStores } from '../src/index.js'
import { REDIS_URL, testClient, testPrefix } from './helpers.js'
import { info } from './suite.js'

/** Stores on a client of the test's own whose registry commands (EVALSHA) are counted. */
async function countedStores (t: Test): Promise<{ keyPrefix: string, admin: Redis, stores: RedisStores, sent: () => number }> {
  const keyPrefix = testPrefix()
  const admin = testClient(t, keyPrefix) as Redis
  const client = new Redis(REDIS_URL)
  t.teardown(() => { client.disconnect() })
  const stores = redisStores({ client }, { keyPrefix, instance: 'i1' })
  t.teardown(() => stores.close())
  await stores.ready()
  await stores.registry.heartbeat()
  // The registry's commands go through the client it was given (a duplicate reads the stream).
  let sent = 0
  const evalsha = client.evalsha.bind(client)
  client.evalsha = ((...args: Parameters<Redis['evalsha']>) => { sent++; return evalsha(...args) }) as Redis['evalsha']
  return { keyPrefix, admin, stores, sent: () => sent }
}

t.test('the writes of one turn of the event loop go to Redis as one command, in order', async (t) => {
  const { keyPrefix, admin, stores, sent } = await countedStores(t)

  const writes = [
    stores.registry.add(info('s1', 'alice')),
    stores.registry.add(info('s2', 'alice')),
    stores.registry.add(info('s3', 'bob')),
    stores.registry.update({ ...info('s2', 'alice'), deadline: 99 }),
    stores.registry.remove('s1')
  ]
  await Promise.all(writes)
  t.equal(sent(), 1, 'five writes, one EVALSHA')
  const tag = `{${keyPrefix}}`
  t.same(Object.keys(await admin.hgetall(`${tag}s:i1`)).sort(), ['s2', 's3'], 's1 added then removed, in order')
  t.equal(JSON.parse(await admin.hget(`${tag}s:i1`, 's2') as string).deadline, 99, 'the update applied after its add')
  t.same(await admin.hgetall(`${tag}c:i1`), { '#': '2', '16:https://idp.testalice': '1', '16:https://idp.testbob': '1' }, 'counts: alice 1, bob 1, and the mark of the instance\'s second write (its first rewrite, then this batch)')
  t.ok(await admin.pttl(`${tag}s:i1`) > 0, 'the sessions expire unless the heartbeat renews them')
  t.equal(await stores.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 1)

  await stores.registry.remove('s2')
  t.equal(sent(), 3, 'a write in a later turn is a command of its own (the count above was one)')
})

t.test('writes queued before a rewrite of every entry are made by it, not applied twice', async (t) => {
  const keyPrefix = testPrefix()
  const admin = testClient(t, keyPrefix) as Redis
  const client = new Redis(REDIS_URL)
  t.teardown(() => { client.disconnect() })
  let sent = 0
  let queued: Promise<void> | undefined
  const evalsha = client.evalsha.bind(client)
  // The first command is the first heartbeat's; a session is added as its answer arrives, just
  // before the registry (dirty at start) builds its rewrite: the add is queued, not yet sent.
  client.evalsha = ((...args: Parameters<Redis['evalsha']>) => {
    sent++
    const answer = evalsha(...args)
    return sent === 1 ? answer.then((r) => { queued = stores.registry.add(info('c1', 'alice')); return r }) : answer
  }) as Redis['evalsha']
  const stores = redisStores({ client }, { keyPrefix, instance: 'i2' })
  t.teardown(() => stores.close())
  await stores.registry.heartbeat()
  await queued
  t.equal(sent, 1, 'the heartbeat only: the rewrite (a MULTI) made the add')
  t.same(await admin.hgetall(`{${keyPrefix}}c:i2`), { '#': '1', '16:https://idp.testalice': '1' }, 'counted once')
  t.same(Object.keys(await admin.hgetall(`{${keyPrefix}}s:i2`)), ['c1'])
})

t.test('close() sends the writes still queued before it removes the instance\'s entries', async (t) => {
  const keyPrefix = testPrefix()
  const admin = testClient(t, keyPrefix) as Redis
  const stores = redisStores({ url: REDIS_URL }, { keyPrefix, instance: 'i3' })
  await stores.ready()
  await stores.registry.heartbeat()
  const added = stores.registry.add(info('q1', 'alice'))
  await stores.close()
  await added
  t.equal(await admin.exists(`{${keyPrefix}}s:i3`, `{${keyPrefix}}c:i3`), 0, 'nothing written after the removal')
  t.equal(await admin.zscore(`{${keyPrefix}}instances`, 'i3'), null)
})

t.test('count() adds this instance\'s writes that have not reached Redis yet', async (t) => {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const stores = redisStores({ url: REDIS_URL }, { keyPrefix, instance: 'i4' })
  t.teardown(() => stores.close())
  await stores.ready()
  await stores.registry.add(info('k1', 'alice'))
  const alice = { subject: 'alice', issuer: 'https://idp.test' }
  const queued = [stores.registry.add(info('k2', 'alice')), stores.registry.add(info('k3', 'alice')), stores.registry.remove('k1'), stores.registry.add(info('k4', 'bob'))]
  t.equal(await stores.registry.count(alice), 2, 'one in Redis, two added and one removed still queued')
  await Promise.all(queued)
  t.equal(await stores.registry.count(alice), 2, 'the same once they are written')
  t.equal(await stores.registry.count({ subject: 'bob', issuer: 'https://idp.test' }), 1)
})

t.test(`a batch of ${REGISTRY_MAX_BATCH_WRITES} writes goes at once, without waiting for its delay`, async (t) => {
  const { keyPrefix, admin, stores, sent } = await countedStores(t)

  const few = stores.registry.add(info('f1', 'alice'))
  await new Promise(setImmediate)
  t.equal(sent(), 0, 'a write alone waits for its delay (no timer has run yet: setImmediate comes first)')
  await few
  const writes = Array.from({ length: REGISTRY_MAX_BATCH_WRITES - 1 }, (_, i) => stores.registry.add(info(`s${i}`, 'bob')))
  await new Promise(setImmediate)
  t.equal(sent(), 1, 'the one before has gone by its delay; these are still waiting')
  writes.push(stores.registry.add(info('last', 'bob')))
  await new Promise(setImmediate)
  t.equal(sent(), 2, `the ${REGISTRY_MAX_BATCH_WRITES}th write sends its batch before any timer could`)
  await Promise.all(writes)
  t.equal(await admin.hlen(`{${keyPrefix}}s:i1`), REGISTRY_MAX_BATCH_WRITES + 1)
})
