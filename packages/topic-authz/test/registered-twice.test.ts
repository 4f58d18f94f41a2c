import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { refusedTwice, registerTwice } from '@wsguard/testing'
import { topicAuthz } from '../src/index.js'

const policies = [{ pattern: 'status.>', actions: ['subscribe'] }]

t.test('registered again, in the same context or a child of it: the error names the plugin and says why', async (t) => {
  const refused = await registerTwice((app) => app.register(websocket), (c) => c.register(topicAuthz, { policies }))
  t.match(refused, refusedTwice('@wsguard/topic-authz'))
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
