import t, { type Test } from 'tap'
import type { Redis } from 'ioredis'
import type { Revocation } from '@wsguard/core'
import { until } from '@wsguard/testing'
import { redisStores, type RedisStoresOptions } from '../src/index.js'
import { Health, compareIds } from '../src/redis.js'
import { parse, RevocationMirror, serialise } from '../src/mirror.js'
import { principal, REDIS_URL, revocation, startRelay, testClient, testPrefix } from './helpers.js'
import { counted, info } from './suite.js'

async function cutOff (t: Test, opts: RedisStoresOptions = {}) {
  const relay = await startRelay(t)
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix)
  const direct = redisStores({ url: REDIS_URL }, { keyPrefix })
  const viaRelay = redisStores({ url: relay.url }, { keyPrefix, commandTimeoutMs: 100, ...opts })
  t.teardown(() => direct.close())
  t.teardown(() => viaRelay.close())
  await Promise.all([direct.ready(), viaRelay.ready()])
  return { relay, client, direct, viaRelay, tag: `{${keyPrefix}}` }
}

t.test('fail-closed: while Redis is unreachable the checks throw and the commands reject in time', async (t) => {
  const { relay, viaRelay } = await cutOff(t)
  await viaRelay.registry.add(info('s1', 'alice'))
  await viaRelay.registry.add(info('s2', 'alice'))
  await relay.stop()
  await until(() => !viaRelay.available, 'the outage is seen')
  t.throws(() => viaRelay.revocations.isRevoked(principal('alice'), Date.now()), { message: /not current.*fail-closed/ })
  await t.rejects(viaRelay.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), { message: /count gave no answer within 100 ms/ })
  await t.rejects(viaRelay.revocations.revoke(revocation({ subject: 'x' })), { message: /revoke gave no answer within 100 ms/ })
  await t.rejects(viaRelay.registry.list(), { message: /list gave no answer/ })
  await t.rejects(viaRelay.registry.remove('s1'), { message: /remove gave no answer/ })
  await relay.start()
  await until(() => viaRelay.available, 'recovered')
  await viaRelay.registry.heartbeat()
  t.equal(await viaRelay.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 1, 'the failed remove was written again')
})

t.test('a revoke whose write Redis does not answer in time still refuses here at once, and rejects', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const stores = redisStores({ client }, { keyPrefix, commandTimeoutMs: 100 })
  t.teardown(() => stores.close())
  await stores.ready()
  // Redis slow for the command connection's scripts only (a long-running command, a failover):
  // the stream's reader is fine, so the mirror stays current.
  const evalsha = client.evalsha.bind(client)
  let hang = true
  client.evalsha = ((...args: Parameters<typeof evalsha>) => hang ? new Promise(() => {}) : evalsha(...args)) as typeof client.evalsha
  const heard: Revocation[] = []
  stores.revocations.subscribe((r) => { heard.push(r) })
  const alice = revocation({ subject: 'alice' })
  await t.rejects(stores.revocations.revoke(alice), { message: /revoke gave no answer within 100 ms/ })
  t.equal(stores.revocations.current, true)
  t.equal(stores.revocations.isRevoked(principal('alice'), Date.now()), true, 'refused here although Redis never took it')
  t.equal(stores.revocations.isRevoked(principal('bob'), Date.now()), false)
  t.same(heard.map((r) => r.filter), [{ subject: 'alice' }], 'delivered to this instance\'s listeners (session-expiry closes and remembers it)')
  hang = false
  await stores.revocations.revoke(alice)
  // Another instance's revocation reaches this one through the stream only, after the retry's entry.
  const other = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => other.close())
  await other.ready()
  await other.revocations.revoke(revocation({ subject: 'carol' }))
  await until(() => heard.length === 2, 'the other instance\'s revocation read from the stream')
  t.same(heard.map((r) => r.filter), [{ subject: 'alice' }, { subject: 'carol' }], 'the retry, read back from the stream before it, was applied once')
})

t.test('a subscriber that throws skips neither the write nor the subscribers after it', async (t) => {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const a = redisStores({ url: REDIS_URL }, { keyPrefix })
  const b = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  await Promise.all([a.ready(), b.ready()])
  const boom = new Error('subscriber bug')
  const heard: Revocation[] = []
  a.revocations.subscribe(() => { throw boom })
  a.revocations.subscribe((r) => { heard.push(r) })
  const deferred: Array<() => void> = []
  const ticks = t.capture(process, 'nextTick', (fn: () => void) => { deferred.push(fn) })
  const done = a.revocations.revoke(revocation({ subject: 'alice' }))
  ticks.restore()
  await done
  t.equal(deferred.length, 1, 'the error is rethrown on the next tick')
  t.throws(() => { (deferred[0] as () => void)() }, boom)
  t.same(heard.map((r) => r.filter), [{ subject: 'alice' }], 'the next subscriber heard it')
  await until(() => b.revocations.isRevoked(principal('alice'), Date.now()), 'written: the other instance refuses alice')
  t.equal(a.revocations.current, true, 'the mirror is still current')
})

t.test('replays fail closed whatever onUnavailable says, and a claim that timed out is undone when Redis applies it late', async (t) => {
  const { relay, direct, viaRelay } = await cutOff(t, { onUnavailable: 'fail-open' })
  t.equal(await viaRelay.replays.claim('bcl:before', Date.now() + 60_000), true)
  await relay.stop()
  await until(() => !viaRelay.available, 'the outage is seen')
  await t.rejects(viaRelay.replays.claim('bcl:during', Date.now() + 60_000), { message: /claim gave no answer within 100 ms/ })
  await t.rejects(viaRelay.replays.release('bcl:before'), { message: /release gave no answer within 100 ms/ })
  await relay.start()
  await until(() => viaRelay.available, 'recovered')
  // A command sent now runs after the queued ones: the late SET, then the undo, then the late DEL.
  t.equal(await viaRelay.replays.claim('bcl:after', Date.now() + 60_000), true)
  t.equal(await direct.replays.claim('bcl:during', Date.now() + 60_000), true, 'the late SET was undone: the retry is no replay')
  t.equal(await direct.replays.claim('bcl:before', Date.now() + 60_000), true, 'the late release went through')
})

t.test('tickets fail closed whatever onUnavailable says: issue and consume reject in time', async (t) => {
  const { relay, direct, viaRelay } = await cutOff(t, { onUnavailable: 'fail-open' })
  const record = { principal: principal('alice'), path: '/feed', origin: null, expiresAt: Date.now() + 60_000 }
  await viaRelay.tickets.issue('before', record, 60_000)
  await relay.stop()
  await until(() => !viaRelay.available, 'the outage is seen')
  await t.rejects(viaRelay.tickets.issue('during', record, 60_000), { message: /ticket issue gave no answer within 100 ms/ })
  await t.rejects(viaRelay.tickets.consume('before'), { message: /ticket consume gave no answer within 100 ms/ })
  await relay.start()
  await until(() => viaRelay.available, 'recovered')
  // A command sent now runs after the queued ones: the late SET and the late GETDEL.
  await viaRelay.tickets.issue('after', record, 60_000)
  t.equal(await direct.tickets.consume('before'), undefined, 'the consume that timed out was applied late: used up, never twice')
  t.match(await direct.tickets.consume('after'), { path: '/feed' })
})

t.test('fail-open: the count is this instance\'s own while Redis is unreachable', async (t) => {
  const { relay, direct, viaRelay } = await cutOff(t, { onUnavailable: 'fail-open' })
  await direct.registry.add(info('d1', 'alice'))
  await viaRelay.registry.add(info('s1', 'alice'))
  t.equal(await viaRelay.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 2)
  await relay.stop()
  t.equal(await viaRelay.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 1)
  t.equal(await viaRelay.registry.count({ subject: 'bob' }), 0)
})

t.test('revocations trimmed from the stream while an instance was cut off come from the records', async (t) => {
  for (const how of ['trimmed', 'deleted'] as const) {
    const { relay, client, direct, viaRelay, tag } = await cutOff(t)
    await direct.revocations.revoke(revocation({ subject: 'before' }))
    await until(() => viaRelay.revocations.size === 1, 'mirrored')
    await relay.stop()
    await until(() => !viaRelay.revocations.current, 'stale')
    await direct.revocations.revoke(revocation({ subject: 'during' }))
    if (how === 'trimmed') await client.xtrim(`${tag}revocations`, 'MAXLEN', 0)
    else await client.del(`${tag}revocations`)
    await relay.start()
    await until(() => viaRelay.revocations.current, 'caught up')
    t.equal(viaRelay.revocations.isRevoked(principal('during'), Date.now()), true, how)
  }
})

t.test('the health of the stores is reported once per outage', async (t) => {
  const warned: object[] = []
  const health = new Health(['a', 'b'], { warn: (o) => warned.push(o), info: () => {} }, false)
  const events: string[] = []
  health.on('unavailable', (e) => events.push(`down:${e.reason}:${e.error === undefined ? '-' : 'err'}`))
  health.on('recovered', () => events.push('up'))
  health.up('a')
  health.up('b')
  health.up('b')
  t.same(events, [], 'coming up the first time is no recovery')
  health.down('a', 'closed')
  health.down('b', 'failed', new Error('x'))
  health.up('a')
  t.equal(health.available, false)
  health.up('b')
  t.same(events, ['down:closed:-', 'up'])
  t.equal(warned.length, 1)
  const errors: object[] = []
  const failing = new Health(['a'], { warn: (o) => errors.push(o), info: () => {} }, true)
  failing.down('a', 'failed', new Error('boom'))
  t.match(errors, [{ reason: 'failed', err: { message: 'boom' } }])
  t.equal(errors.length, 1)
  const silent = new Health(['a'], undefined, true)
  silent.down('a', 'x')
  silent.up('a')
  t.equal(silent.available, true)
})

t.test('stream ids compare by time, then sequence', async (t) => {
  t.ok(compareIds('5-1', '5-2') < 0)
  t.ok(compareIds('6-0', '5-9') > 0)
  t.equal(compareIds('5-1', '5-1'), 0)
})

t.test('the mirror keeps several records per key, once each', async (t) => {
  const mirror = new RevocationMirror()
  const now = Date.now()
  const first = serialise({ filter: { subject: 'a' }, at: now - 10_000, until: now + 1_000 }, 'x')
  t.ok(mirror.add(first, now))
  t.equal(mirror.add(first, now), undefined)
  t.ok(mirror.add(serialise({ filter: { subject: 'a' }, at: now, until: now + 1_000 }, 'x'), now))
  t.equal(mirror.isRevoked(principal('a', { claims: { iat: (now - 5_000) / 1000 } }), now), true, 'the later record')
  for (let i = 0; i < 100; i++) mirror.add(serialise({ filter: { tokenId: `t${i}` }, at: now, until: now + (i < 50 ? -1 : 1_000) }, 'x'), now)
  t.ok(mirror.size < 102, `expired records swept (${mirror.size})`)
})

t.test('an error reply while connected makes the mirror stale until it reads again', async (t) => {
  const { client, viaRelay, tag } = await cutOff(t, { blockMs: 50 })
  const events: string[] = []
  viaRelay.events.on('unavailable', ({ reason }) => events.push(reason))
  await client.del(`${tag}revocations`)
  await client.set(`${tag}revocations`, 'not a stream')
  await until(() => !viaRelay.revocations.current, 'the read failed')
  await client.del(`${tag}revocations`)
  await until(() => viaRelay.revocations.current, 'read again')
  t.same(events, ['reading the revocation stream failed'])
})

t.test('Redis gone silent (connection up, nothing answered): the mirror is trusted at most blockMs + commandTimeoutMs, then fails closed; it catches up when Redis answers', async (t) => {
  const blockMs = 300
  const commandTimeoutMs = 100
  const { relay, direct, viaRelay } = await cutOff(t, { blockMs, commandTimeoutMs })
  relay.hold()
  const since = Date.now()
  await direct.revocations.revoke(revocation({ subject: 'alice' }))
  await until(() => !viaRelay.revocations.current, 'the blocked read was late')
  const trusted = Date.now() - since
  // The relay holds only what the client sends: the read already at Redis may still be
  // answered (with alice or with nothing) up to blockMs later, and the next one, held, is late
  // blockMs + commandTimeoutMs after it began. The slack is for a loaded machine.
  t.ok(trusted <= 2 * blockMs + commandTimeoutMs + 1_000, `trusted for ${trusted} ms`)
  t.throws(() => viaRelay.revocations.isRevoked(principal('alice'), Date.now()), /not current.*fail-closed/)
  relay.release()
  await until(() => viaRelay.revocations.current, 'caught up')
  t.equal(viaRelay.revocations.isRevoked(principal('alice'), Date.now()), true, 'the revocation issued while it was silent')
})

t.test('records read back are checked before they are trusted', async (t) => {
  for (const junk of ['null', '{}', '{"filter":{"subject":"a"},"at":"1","until":2}', '{"filter":{"who":"a"},"at":1,"until":2}', '{"filter":{"subject":7},"at":1,"until":2}']) {
    t.equal(parse(junk), undefined, junk)
  }
  const mirror = new RevocationMirror()
  mirror.add(serialise({ filter: { sessionId: 's' }, at: 1_000, until: Date.now() + 1_000 }, 'x'), Date.now())
  t.equal(mirror.isRevoked(principal('x', { sessionId: 's', claims: {} }), Date.now()), true, 'a token without iat counts as issued before')
})

t.test('sessions without an issuer, or added twice, are counted once', async (t) => {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const stores = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => stores.close())
  const mtls = { ...info('m1', null), principal: principal('spiffe://a/b', { issuer: undefined }) }
  await stores.registry.add(mtls)
  await stores.registry.add(mtls)
  t.equal(await stores.registry.count({ subject: 'spiffe://a/b' }), 1)
})

t.test('a revocation\'s origin is bounded when written and when read back; a bad origin drops only itself', async (t) => {
  const now = Date.now()
  const base = { filter: { subject: 'a' }, at: now, until: now + 1_000 }
  t.strictSame(parse(serialise(base, 'api-1'))?.origin, { instance: 'api-1' }, 'the writer\'s name when it names none')
  t.strictSame(parse(serialise({ ...base, origin: { instance: 'api-2', reason: 'r'.repeat(300), actor: 'ops' } }, 'api-1'))?.origin, {
    actor: 'ops', instance: 'api-2', reason: `${'r'.repeat(128)}…`
  })
  t.equal(serialise({ ...base, origin: { reason: 'x', actor: 'y' } }, 'i'), serialise({ ...base, origin: { actor: 'y', reason: 'x' } }, 'i'), 'one text per record')
  const odd = parse(JSON.stringify({ ...base, origin: { instance: 7, note: 'x' } }))
  t.strictSame(odd, { filter: { subject: 'a' }, at: now, until: now + 1_000 }, 'kept, without the origin')
  t.strictSame(parse(JSON.stringify(base)), base, 'a record written before origins')
})

t.test('a health listener that throws: the others still hear it, the stores go on, and the error is thrown again on the next tick', async (t) => {
  const health = new Health(['a'], undefined, false)
  const heard: string[] = []
  const broken = new Error('the app\'s listener broke')
  health.on('unavailable', () => { throw broken })
  health.on('unavailable', ({ reason }) => heard.push(reason))
  health.once('recovered', () => { throw broken })
  health.on('recovered', () => heard.push('recovered'))
  health.up('a')
  const deferred: Array<() => void> = []
  const ticks = t.capture(process, 'nextTick', (fn: () => void) => { deferred.push(fn) })
  health.down('a', 'closed')
  health.up('a')
  health.down('a', 'closed again')
  health.up('a')
  ticks.restore()
  t.same(heard, ['closed', 'recovered', 'closed again', 'recovered'], 'every outage and recovery reached the other listener')
  t.equal(health.available, true)
  t.equal(deferred.length, 3, 'two from \'unavailable\', one from the \'recovered\' listener added with once')
  for (const fn of deferred) t.throws(fn, broken)
})

t.test('counters, fail-closed: unreachable or unanswered, a count fails at once or within commandTimeoutMs, reported once', async (t) => {
  const { relay, viaRelay } = await cutOff(t)
  const events: string[] = []
  viaRelay.events.on('unavailable', ({ reason }) => events.push(reason))
  viaRelay.events.on('recovered', () => events.push('recovered'))
  t.match(await viaRelay.counters.hit('ip a', 60_000, 0), { current: 1 })
  relay.hold()
  await t.rejects(viaRelay.counters.hit('ip a', 60_000, 0) as Promise<unknown>, { message: 'redis: count gave no answer within 100 ms' })
  relay.release()
  // Only a command that succeeds tells the store is answering again: the registry's heartbeat
  // (every 5 s by default) is run now rather than waited for.
  await viaRelay.registry.heartbeat()
  t.equal(viaRelay.available, true, 'answering again')
  await relay.stop()
  await until(() => !viaRelay.available, 'the outage is seen')
  t.throws(() => viaRelay.counters.hit('ip a', 60_000, 0), { message: 'redis: the command connection is not ready' }, 'no command queued while the connection is down')
  await relay.start()
  await until(() => viaRelay.available, 'recovered')
  t.equal(counted(await viaRelay.counters.hit('ip a', 60_000, 0)), 3, 'the held count reached Redis late; nothing was lost')
  t.match(events, ['a counter command failed', 'recovered', /connection closed/, 'recovered'], 'each outage reported once, and its end')
  t.equal(events.length, 4)
})

t.test('counters, fail-open: undefined while Redis cannot answer, so the gate decides alone', async (t) => {
  const { relay, viaRelay } = await cutOff(t, { onUnavailable: 'fail-open' })
  relay.hold()
  t.equal(await viaRelay.counters.hit('ip a', 60_000, 0), undefined)
  relay.release()
  await relay.stop()
  // Once the command connection knows it is down, the answer comes at once, not as a promise.
  await until(() => viaRelay.counters.hit('ip a', 60_000, 0) === undefined, 'answered at once')
  t.equal(viaRelay.counters.hit('ip b', 60_000, 0), undefined, 'at once, not a promise')
})

t.test('counts left unanswered are bounded: past MAX_PENDING_COUNTS a count answers as if Redis were unreachable', async (t) => {
  const { MAX_PENDING_COUNTS } = await import('../src/index.js')
  const { relay, viaRelay } = await cutOff(t, { onUnavailable: 'fail-open', commandTimeoutMs: 10_000 })
  relay.hold()
  const held = Array.from({ length: MAX_PENDING_COUNTS }, () => viaRelay.counters.hit('ip flood', 60_000, 0))
  t.equal(viaRelay.counters.pending, MAX_PENDING_COUNTS)
  t.equal(viaRelay.counters.hit('ip flood', 60_000, 0), undefined, 'not sent, not queued')
  relay.release()
  const answers = await Promise.all(held)
  t.match(answers.at(-1), { current: MAX_PENDING_COUNTS })
  t.equal(viaRelay.counters.pending, 0)
})
