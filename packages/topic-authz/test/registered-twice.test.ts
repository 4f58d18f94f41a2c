import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { topicAuthz } from '../src/index.js'

const policies = [{ pattern: 'status.>', actions: ['subscribe'] }]

t.test('registered twice in one context: the error names the plugin and says why', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies })
  await t.rejects(async () => { await app.register(topicAuthz, { policies }) }, {
    code: 'WSG_REGISTERED_TWICE',
    message: /^Registered twice: @wsguard\/topic-authz is registered in the same encapsulation context\. Register it once/
  })
})

t.test('sibling contexts each register their own', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(async (a) => { await a.register(topicAuthz, { policies }) })
  await app.register(async (b) => { await b.register(topicAuthz, { policies }) })
  await app.ready()
  t.pass('both registered')
})
