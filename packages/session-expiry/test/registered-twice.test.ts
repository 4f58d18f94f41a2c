import t from 'tap'
import websocket from '@fastify/websocket'
import { refusedTwice, registerTwice } from '@wsguard/testing'
import { sessionExpiry } from '../src/index.js'

t.test('registered again, in the same context or a child of it (whose routes it already governs): the error names the plugin and says why', async (t) => {
  const refused = await registerTwice((app) => app.register(websocket), (c) => c.register(sessionExpiry, {}))
  t.match(refused, refusedTwice('@wsguard/session-expiry'))
})
