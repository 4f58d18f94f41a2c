import t from 'tap'
import websocket from '@fastify/websocket'
import { generateKey, jwks, refusedTwice, registerTwice } from '@wsguard/testing'
import { authHandshake } from '../src/index.js'

const key = generateKey('ES256')
const jwt = { issuer: 'https://idp.test', audience: 'feed-api', algorithms: ['ES256' as const], jwks: jwks(key) }

t.test('registered again, in the same context or a child of it: the error names the plugin and says why, not a decorator', async (t) => {
  const refused = await registerTwice((app) => app.register(websocket), (c) => c.register(authHandshake, { jwt }))
  t.match(refused, refusedTwice('@wsguard/auth-handshake'))
})
