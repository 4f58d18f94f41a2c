import t, { type Test } from 'tap'
import { connectSocket, type Refusal } from '@wsguard/testing'
import { redisStores, type RedisStores } from '../src/index.js'
import { instance, token } from './app.js'
import { REDIS_URL, startRelay, testClient, testPrefix } from './helpers.js'

// auth-handshake's tickets on the shared store: a page may ask one instance for a ticket and
// connect to another behind the load balancer.

async function sharedStores (t: Test, url = REDIS_URL): Promise<[RedisStores, RedisStores]> {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const a = redisStores({ url: REDIS_URL }, { keyPrefix })
  const b = redisStores({ url }, { keyPrefix, commandTimeoutMs: 100 })
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  await Promise.all([a.ready(), b.ready()])
  return [a, b]
}

async function ask (url: string, sub: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(url.replace(/^ws/, 'http').replace(/\/feed$/, '/ws-ticket'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token(sub)}` },
    body: JSON.stringify({ path: '/feed' })
  })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

const use = (t: Test, url: string, ticket: string) => connectSocket(`${url}?ticket=${ticket}`, { teardown: (fn) => t.teardown(fn) })

t.test('a ticket issued by one instance opens a socket on another, once', async (t) => {
  const [storesA, storesB] = await sharedStores(t)
  const a = await instance(t, storesA, { tickets: true })
  const b = await instance(t, storesB, { tickets: true })
  const { status, body } = await ask(a.url, 'alice')
  t.equal(status, 200)
  const ticket = body.ticket as string
  t.notOk('refused' in await use(t, b.url, ticket), 'opened on B')
  for (const url of [a.url, b.url]) {
    const again = await use(t, url, ticket) as Refusal
    t.same([again.status, again.body.code], [401, 'WSG_TICKET_INVALID'], 'used up everywhere')
  }
})

t.test('while Redis does not answer, no ticket is issued and none is taken (503)', async (t) => {
  const relay = await startRelay(t)
  const [storesA, storesB] = await sharedStores(t, relay.url)
  const a = await instance(t, storesA, { tickets: true })
  const b = await instance(t, storesB, { tickets: true })
  const ticket = (await ask(a.url, 'alice')).body.ticket as string
  await relay.stop()
  t.same(await ask(b.url, 'bob'), { status: 503, body: { statusCode: 503, code: 'WSG_UNAVAILABLE', error: 'Service Unavailable', message: 'An authentication dependency is unavailable' } })
  const refused = await use(t, b.url, ticket) as Refusal
  t.same([refused.status, refused.body.code], [503, 'WSG_UNAVAILABLE'])
})
