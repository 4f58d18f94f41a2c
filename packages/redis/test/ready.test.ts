import t from 'tap'
import { createServer, type AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { redisStores } from '../src/index.js'
import { REDIS_URL, testPrefix } from './helpers.js'

t.test('ready() rejects, not hangs, when the command connection has ended', async (t) => {
  const client = new Redis(REDIS_URL)
  const ended = new Promise((resolve) => client.once('end', resolve))
  await client.quit()
  await ended
  t.equal(client.status, 'end')
  const stores = redisStores({ client }, { keyPrefix: testPrefix() })
  t.teardown(() => stores.close())
  await t.rejects(stores.ready(), { message: /command connection has ended .*ready\(\) cannot resolve/ })
})

t.test('ready() rejects when the command connection ends while it waits, and shares one wait between callers', async (t) => {
  // A port nothing listens on, and a client that gives up after the first refusal.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as AddressInfo).port
  await new Promise<void>((resolve) => probe.close(() => { resolve() }))
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => null, maxRetriesPerRequest: 0 })
  client.on('error', () => {})
  const stores = redisStores({ client }, { keyPrefix: testPrefix() })
  t.teardown(() => stores.close())
  t.not(client.status, 'ready')
  const readyListeners = client.listenerCount('ready')
  const first = stores.ready()
  const second = stores.ready()
  t.equal(client.listenerCount('end'), 1, 'two callers, one listener')
  await t.rejects(first, { message: /command connection has ended/ })
  await t.rejects(second, { message: /command connection has ended/ })
  t.equal(client.listenerCount('ready'), readyListeners, 'its listeners are gone')
  t.equal(client.listenerCount('end'), 0)
})
