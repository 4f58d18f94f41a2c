import t from 'tap'
import { Cluster, Redis } from 'ioredis'
import { redisStores, type RedisStoresOptions } from '../src/index.js'
import { validateOptions } from '../src/options.js'

const bad: Array<[string, unknown, unknown, RegExp]> = [
  ['no connection', undefined, {}, /connection must be \{ url \} or \{ client \}/],
  ['both', { url: 'redis://x', client: {} }, {}, /connection must be \{ url \} or \{ client \}, not both/],
  ['url', { url: 'http://x' }, {}, /connection\.url must be a redis:\/\/ or rediss:\/\/ URL/],
  ['url type', { url: 7 }, {}, /connection\.url must be/],
  ['url unparsable', { url: 'redis://[bad' }, {}, /connection\.url must be a redis:\/\/ or rediss:\/\/ URL/],
  ['url keyPrefix', { url: 'redis://127.0.0.1:6379/?keyPrefix=app:' }, {}, /connection\.url must not set ioredis's keyPrefix .*: use opts\.keyPrefix/],
  ['url keyprefix', { url: 'rediss://h/0?db=1&KEYPREFIX=x' }, {}, /connection\.url must not set ioredis's keyPrefix/],
  ['client', { client: {} }, {}, /connection\.client must be an ioredis Redis or Cluster/],
  ['client without options', { client: { duplicate () {}, evalsha () {} } }, {}, /connection\.client must be an ioredis Redis or Cluster/],
  ['opts', { url: 'redis://x' }, 7, /opts must be an object/],
  ['unknown', { url: 'redis://x' }, { prefix: 'x' }, /opts\.prefix is not an option of @wsguard\/redis/],
  ['keyPrefix', { url: 'redis://x' }, { keyPrefix: 'a{b}' }, /opts\.keyPrefix must be 1–64 letters/],
  ['onUnavailable', { url: 'redis://x' }, { onUnavailable: 'closed' }, /opts\.onUnavailable must be 'fail-closed' or 'fail-open'/],
  ['logger', { url: 'redis://x' }, { logger: { warn () {} } }, /opts\.logger must have warn\(obj, msg\) and info\(obj, msg\)/],
  ['logger null', { url: 'redis://x' }, { logger: null }, /opts\.logger must have/],
  ['instance', { url: 'redis://x' }, { instance: '' }, /opts\.instance must be 1–64/],
  ['commandTimeoutMs', { url: 'redis://x' }, { commandTimeoutMs: 0 }, /opts\.commandTimeoutMs must be an integer ≥ 1 \(ms\)/],
  ['commandTimeoutMs past what a timer waits', { url: 'redis://x' }, { commandTimeoutMs: 2 ** 31 }, /opts\.commandTimeoutMs must be at most 2147483647 ms/],
  ['heartbeatMs past what a timer waits', { url: 'redis://x' }, { heartbeatMs: 2 ** 31, heartbeatTtlMs: 2 ** 32 }, /opts\.heartbeatMs must be at most 2147483647 ms/],
  ['blockMs past what a timer waits', { url: 'redis://x' }, { blockMs: 2 ** 31 }, /opts\.blockMs must be at most 2147483647 ms/],
  ['a stream read whose timer would wait too long', { url: 'redis://x' }, { blockMs: 2 ** 31 - 10, commandTimeoutMs: 1_000 }, /opts\.blockMs \+ opts\.commandTimeoutMs must be at most 2147483647 ms/],
  ['heartbeatMs', { url: 'redis://x' }, { heartbeatMs: 1.5 }, /opts\.heartbeatMs must be an integer ≥ 10/],
  ['heartbeatTtlMs', { url: 'redis://x' }, { heartbeatMs: 1000, heartbeatTtlMs: 1000 }, /opts\.heartbeatTtlMs must be greater than opts\.heartbeatMs/],
  ['streamMaxLen', { url: 'redis://x' }, { streamMaxLen: 10 }, /opts\.streamMaxLen must be an integer ≥ 100$/],
  ['blockMs', { url: 'redis://x' }, { blockMs: '5s' }, /opts\.blockMs must be an integer/],
  ['maxCounterKeys', { url: 'redis://x' }, { maxCounterKeys: 0 }, /opts\.maxCounterKeys must be an integer ≥ 1$/],
  ['maxRevocationRecords', { url: 'redis://x' }, { maxRevocationRecords: 1.5 }, /opts\.maxRevocationRecords must be an integer ≥ 1$/]
]

t.test('bad options throw at construction with a message naming the option', async (t) => {
  for (const [name, connection, opts, message] of bad) {
    t.throws(() => redisStores(connection as never, opts as RedisStoresOptions), { code: 'WSG_INVALID_OPTION', message }, name)
  }
})

t.test('defaults, and options are copied', async (t) => {
  const opts = { keyPrefix: 'app:', onUnavailable: 'fail-open' as const }
  const c = validateOptions(opts)
  t.match(c, { keyPrefix: 'app:', failOpen: true, commandTimeoutMs: 1_000, heartbeatMs: 5_000, heartbeatTtlMs: 15_000, streamMaxLen: 10_000, blockMs: 5_000, maxCounterKeys: 100_000, maxRevocationRecords: 100_000 })
  t.equal(typeof c.instance, 'string')
  t.equal(validateOptions(undefined).keyPrefix, 'wsguard:')
  t.equal(validateOptions({ heartbeatMs: 10_000 }).heartbeatTtlMs, 30_000, 'the TTL default is three heartbeats at least')
  t.same(opts, { keyPrefix: 'app:', onUnavailable: 'fail-open' })
  t.ok(Object.isFrozen(c))
})

t.test('a client that prefixes its keys (ioredis keyPrefix) is refused: the registry would count 0', async (t) => {
  const client = new Redis('redis://127.0.0.1:6379', { keyPrefix: 'myapp:', lazyConnect: true })
  t.teardown(() => client.disconnect())
  const message = /connection\.client must not set ioredis's keyPrefix .*: use opts\.keyPrefix/
  t.throws(() => redisStores({ client }, { keyPrefix: 'app:' }), { code: 'WSG_INVALID_OPTION', message })
  const cluster = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true, keyPrefix: 'myapp:' })
  t.teardown(() => cluster.disconnect())
  t.throws(() => redisStores({ client: cluster }), { code: 'WSG_INVALID_OPTION', message }, 'a Cluster\'s own keyPrefix')
  const nodes = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true, redisOptions: { keyPrefix: 'myapp:' } })
  t.teardown(() => nodes.disconnect())
  t.throws(() => redisStores({ client: nodes }), { code: 'WSG_INVALID_OPTION', message }, 'its nodes\' keyPrefix')
  // An empty prefix prefixes nothing.
  const plain = new Redis('redis://127.0.0.1:6379', { keyPrefix: '', lazyConnect: true })
  t.teardown(() => plain.disconnect())
  const stores = redisStores({ client: plain }, { keyPrefix: `wsg-test-plain-${process.pid}:` })
  await stores.close()
})

t.test('a client passed in is left open by close()', async (t) => {
  const client = new Redis('redis://127.0.0.1:6379')
  t.teardown(() => client.disconnect())
  const stores = redisStores({ client }, { keyPrefix: `wsg-test-own-${process.pid}:` })
  await stores.ready()
  await stores.close()
  await stores.close()
  t.equal(await client.ping(), 'PONG')
})
