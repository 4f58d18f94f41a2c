import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { sessionExpiry } from '../src/index.js'

t.test('registered twice in one context: the error names the plugin and says why', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(sessionExpiry, {})
  await t.rejects(async () => { await app.register(sessionExpiry, {}) }, {
    code: 'WSG_REGISTERED_TWICE',
    message: /^Registered twice: @wsguard\/session-expiry is registered in the same encapsulation context\. Register it once/
  })
})

t.test('registered in a child of a context that has it: refused (the parent\'s registration governs the child\'s routes)', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(sessionExpiry, {})
  await t.rejects(async () => { await app.register(async (child) => { await child.register(sessionExpiry, {}) }) }, {
    code: 'WSG_REGISTERED_TWICE',
    message: /@wsguard\/session-expiry is registered in this context and in a parent context, whose registration already governs this context's routes/
  })
})
