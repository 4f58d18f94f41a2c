import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import mercurius from 'mercurius'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { topicAuthz } from '@wsguard/topic-authz'
import { generateKey, jwks } from '@wsguard/testing'

const key = await generateKey('ES256')
const app = Fastify()
await app.register(websocket)
await app.register(authHandshake, { jwt: { issuer: 'https://i', audience: 'a', algorithms: ['ES256'], jwks: jwks(key) } })
await app.register(sessionExpiry, {})
await app.register(topicAuthz, { policies: [] })
await app.register(mercurius, {
  schema: 'type Query { hello: String } type Subscription { tick: String }',
  resolvers: { Query: { hello: async () => 'world' } },
  subscription: true,
  additionalRouteOptions: { config: { handshakeTopic: { action: 'subscribe', topic: 'gql' } } }
})
app.route({ method: 'GET', url: '/dual', handler: async () => 'http', wsHandler: (s) => s.close() })
await app.ready()
await app.listen({ port: 0, host: "127.0.0.1" }); const port = (app.server.address() as any).port
for (const url of ["/graphql?query=%7Bhello%7D", "/dual"]) {
  const r0 = await fetch(`http://127.0.0.1:${port}${url}`); const r = { statusCode: r0.status, body: await r0.text() }
  console.log(url, r.statusCode, r.body)
}
await app.close()
