import t from 'tap'
import { Cluster } from 'ioredis'
import { redisStores } from '../src/index.js'
import { startCluster } from './cluster.js'
import { testClient, testPrefix } from './helpers.js'
import { storeSuite } from './suite.js'

// The same suite on a 3-master Redis Cluster started for this file, stopped and removed after.
const cluster = await startCluster()
t.teardown(() => cluster.stop())
const startupNodes = cluster.ports.map((port) => ({ host: '127.0.0.1', port }))

storeSuite(t, () => new Cluster(startupNodes))

t.test('every key of one prefix hashes to one slot', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix, () => new Cluster(startupNodes)) as Cluster
  const stores = redisStores({ client }, { keyPrefix })
  t.teardown(() => stores.close())
  await stores.ready()
  const slots = await Promise.all(['revocations', 'revoked', 'instances', 's:x', 'c:x', 'n:60000', 'n:60000:=ip 10.0.0.1', 'n:1000:#abc', 'ticket:x', 'replay:y'].map((name) => `{${keyPrefix}}${name}`).map((k) => client.cluster('KEYSLOT', k)))
  t.equal(new Set(slots).size, 1)
})
