import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { generateKey, jwks } from '@wsguard/testing'
import { authHandshake } from '../src/index.js'

const key = generateKey('ES256')
const jwt = { issuer: 'https://idp.test', audience: 'feed-api', algorithms: ['ES256' as const], jwks: jwks(key) }

t.test('registered twice in one context: the error names the plugin and says why, not a decorator', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt })
  await t.rejects(async () => { await app.register(authHandshake, { jwt }) }, {
    code: 'WSG_REGISTERED_TWICE',
    message: /^Registered twice: @wsguard\/auth-handshake is registered in the same encapsulation context\. Register it once/
  })
})

t.test('registered again in a child context: refused, the parent\'s hooks already verify the child\'s routes', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt })
  await t.rejects(async () => { await app.register(async (child) => { await child.register(authHandshake, { jwt }) }) }, {
    code: 'WSG_REGISTERED_TWICE',
    message: /@wsguard\/auth-handshake is registered in this context and in a parent context/
  })
})
