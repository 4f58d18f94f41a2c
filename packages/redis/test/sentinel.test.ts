import t from 'tap'
import { Redis } from 'ioredis'
import { startSentinel, MASTER_NAME } from './sentinel.js'
import { storeSuite } from './suite.js'

// The same suite through Redis Sentinel: ioredis asks the sentinel where the master is.
const sentinel = await startSentinel()
t.teardown(() => sentinel.stop())

storeSuite(t, () => new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinel.sentinel }], name: MASTER_NAME }))

t.test('the client found the master through the sentinel, and the replica follows it', async (t) => {
  const client = new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinel.sentinel }], name: MASTER_NAME })
  t.teardown(() => client.disconnect())
  t.match(await client.info('replication'), /role:master/)
  t.same(await client.config('GET', 'port'), ['port', String(sentinel.master)], 'the master the sentinel named')
  const replica = new Redis({ port: sentinel.replica, host: '127.0.0.1' })
  t.teardown(() => replica.disconnect())
  t.match(await replica.info('replication'), new RegExp(`role:slave[\\s\\S]*master_port:${sentinel.master}`))
})
