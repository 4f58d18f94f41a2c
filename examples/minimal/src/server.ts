import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { Type, type Static } from '@sinclair/typebox'
import { authHandshake } from '@wsguard/auth-handshake'

const claims = Type.Object({ tenant: Type.String() })
declare module '@wsguard/core' {
  interface WsguardClaims extends Static<typeof claims> {}
}

/** The feed: one websocket route that needs `feed:read` and refuses broader tokens. */
export async function buildServer (issuer: string, logger = true): Promise<FastifyInstance> {
  const app = Fastify({ logger })
  await app.register(websocket)
  await app.register(authHandshake, {
    jwt: { issuer, audience: 'feed-api', algorithms: ['ES256', 'EdDSA'], discovery: true, typ: 'at+jwt', claims }
  })
  app.get('/feed', { websocket: true, config: { auth: { scopes: ['feed:read'], allowedScopes: ['feed:read'] } } }, (socket, req) => {
    const { id, kind, claims, expiresAt } = req.principal
    socket.send(JSON.stringify({ hello: id, kind, tenant: claims.tenant, expiresAt }))
  })
  return app
}
