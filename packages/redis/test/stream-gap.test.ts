import t, { type Test } from 'tap'
import type { Cluster, Redis } from 'ioredis'
import type { Revocation } from '@wsguard/core'
import { until } from '@wsguard/testing'
import { redisStores, type RedisStores, type RedisStoresOptions } from '../src/index.js'
import { principal, REDIS_URL, revocation, startRelay, testClient, testPrefix, type Relay } from './helpers.js'

// An instance whose stream reader lags (slow link, GC pause, busy loop: here the relay holds what
// it sends, for less than blockMs + commandTimeoutMs, so it is never marked stale) while another
// instance appends more than streamMaxLen revocations. XADD MAXLEN ~ trims entries it has not read;
// its next XREAD from its last id returns only what is left. Found by session 20's adversarial
// review: only a catch-up after the mirror went stale checked for trimmed entries, so the
// trimmed revocations were never applied there (its sockets stayed open, the tokens were accepted
// at its handshake) while `current` said the mirror was up to date. Now each entry carries its
// number: a number missing makes the mirror stale until the records are loaded again.
/**
 * Instance A on Redis, instance B through a relay the test can hold or stop, on a key prefix of
 * their own; B has read A's first revocation (its last id is in the stream) and `heard` holds
 * the subjects of every revocation B's subscribers were told.
 */
async function twoInstances (t: Test, optsA: RedisStoresOptions, optsB: RedisStoresOptions): Promise<{ a: RedisStores, b: RedisStores, relay: Relay, admin: Redis | Cluster, keyPrefix: string, heard: Set<string> }> {
  const keyPrefix = testPrefix()
  const admin = testClient(t, keyPrefix)
  const relay = await startRelay(t)
  const a = redisStores({ url: REDIS_URL }, { ...optsA, keyPrefix })
  const b = redisStores({ url: relay.url }, { ...optsB, keyPrefix })
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  await Promise.all([a.ready(), b.ready()])
  const heard = new Set<string>()
  b.revocations.subscribe((r: Revocation) => { heard.add((r.filter as { subject: string }).subject) })
  await a.revocations.revoke(revocation({ subject: 'first' }))
  await until(() => heard.has('first'), 'B read the first revocation')
  return { a, b, relay, admin, keyPrefix, heard }
}

// A burst past streamMaxLen 100, and past the default (10,000) as a busy deployment's would be.
const bursts = [{ streamMaxLen: 100, burst: 600, batch: 50 }, { streamMaxLen: undefined, burst: 10_600, batch: 200 }]
for (const { streamMaxLen, burst, batch } of bursts) {
  t.test(`revocations trimmed while a connected instance lags are loaded again there (streamMaxLen ${streamMaxLen ?? 'default'}, a burst of ${burst})`, async (t) => {
    const { a, b, relay, heard } = await twoInstances(t, streamMaxLen === undefined ? {} : { streamMaxLen }, { blockMs: 60_000 })
    relay.hold()
    for (let i = 0; i < burst; i += batch) {
      await Promise.all(Array.from({ length: batch }, (_, j) => a.revocations.revoke(revocation({ subject: `u${i + j}` }))))
    }
    relay.release()
    await until(() => heard.has(`u${burst - 1}`), 'B read the last revocation of the burst')
    await until(() => b.revocations.current, 'B has loaded the records again')
    const missed = Array.from({ length: burst }, (_, i) => `u${i}`).filter((s) => !b.revocations.isRevoked(principal(s), Date.now()))
    t.equal(missed.length, 0, `revoked subjects B still accepts: ${missed.length} of ${burst} (e.g. ${missed.slice(0, 3).join(', ')})`)
    t.equal(heard.size, burst + 1, `revocations B's subscribers (session-expiry) heard: ${heard.size} of ${burst + 1}`)
  })
}

// A number missing in what a catch-up reads (the count jumped: here the test bumps it, as a lost
// or replaced count would) fails that catch-up; the next one loads the records.
t.test('a number missing in what a catch-up reads: the records are loaded again before the mirror is current', async (t) => {
  // B has read one entry first: its last id is then in the stream, and nothing reads as trimmed.
  const { a, b, relay, admin, keyPrefix } = await twoInstances(t, {}, {})
  const down = new Promise((resolve) => { b.events.once('unavailable', resolve) })
  await relay.stop()
  await down
  await a.revocations.revoke(revocation({ subject: 'before' }))
  await admin.incrby(`{${keyPrefix}}revocations:n`, 5)
  await a.revocations.revoke(revocation({ subject: 'after' }))
  // A record only a load of the records can find (it is in no stream entry).
  const hidden = JSON.stringify({ filter: { subject: 'hidden' }, at: Date.now(), until: Date.now() + 60_000, origin: { instance: 'test' } })
  await admin.zadd(`{${keyPrefix}}revoked`, Date.now() + 60_000, hidden)
  await relay.start()
  await until(() => b.revocations.current, 'B caught up')
  t.ok(b.revocations.isRevoked(principal('before'), Date.now()))
  t.ok(b.revocations.isRevoked(principal('after'), Date.now()))
  t.ok(b.revocations.isRevoked(principal('hidden'), Date.now()), 'the records were loaded again: reading on from its last entry was not enough')
})

// Entries written before entries were numbered (an instance of an older version) carry no
// number: they are applied, and numbering goes on from the next numbered one.
t.test('entries without a number are applied, and tell no gap', async (t) => {
  const keyPrefix = testPrefix()
  const admin = testClient(t, keyPrefix)
  const a = redisStores({ url: REDIS_URL }, { keyPrefix })
  const b = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  const stale: string[] = []
  b.events.on('unavailable', ({ reason }) => { stale.push(reason) })
  // An older writer's entry, before any numbered one: LOAD finds no number.
  const old = JSON.stringify({ filter: { subject: 'old' }, at: Date.now(), until: Date.now() + 60_000, origin: { instance: 'old' } })
  await admin.xadd(`{${keyPrefix}}revocations`, '*', 'r', old)
  await Promise.all([a.ready(), b.ready()])
  const heard = new Set<string>()
  b.revocations.subscribe((r: Revocation) => { heard.add((r.filter as { subject: string }).subject) })
  await a.revocations.revoke(revocation({ subject: 'one' }))
  await admin.xadd(`{${keyPrefix}}revocations`, '*', 'r', old.replace('"old"}', '"older"}'))
  await a.revocations.revoke(revocation({ subject: 'two' }))
  await until(() => heard.has('two'), 'B read the second numbered revocation')
  t.ok(heard.has('one') && heard.has('older'), 'the entry without a number was applied in its place')
  t.same(stale, [], 'no gap told')
})
