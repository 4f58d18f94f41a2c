import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { Type, type Static } from '@sinclair/typebox'
import { authHandshake, requirePrincipal } from '@wsguard/auth-handshake'
import { topicAuthz } from '@wsguard/topic-authz'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry } from '@wsguard/telemetry'

const claims = Type.Object({ tenant: Type.String() })
declare module '@wsguard/core' {
  interface WsguardClaims extends Static<typeof claims> {}
}

/**
 * The feed: one websocket route that needs `feed:read` and refuses broader tokens; and
 * per-tenant order streams, where a tenant's token opens only its own tenant's stream.
 */
export async function buildServer (issuer: string, logger = true): Promise<FastifyInstance> {
  const app = Fastify({ logger })
  await app.register(websocket)
  // Metrics on /metrics and audit events on the logger (child logger `wsguard.audit`).
  await app.register(telemetry, { metrics: { path: '/metrics' }, audit: true })
  await app.register(authHandshake, {
    jwt: { issuer, audience: 'feed-api', algorithms: ['ES256', 'EdDSA'], discovery: true, typ: 'at+jwt', claims }
  })
  // Registered before the routes: a plugin's onRoute hook only sees routes added after it.
  // Sessions: the socket closes when its token expires unless refreshed in-band, and
  // app.wsSessions.revoke() closes it at once.
  await app.register(sessionExpiry, { noticeMs: 60_000, graceMs: 5_000 })
  app.get('/feed', { websocket: true, config: { auth: { scopes: ['feed:read'], allowedScopes: ['feed:read'] } } }, (socket, req) => {
    // Never null on a route auth-handshake governs; requirePrincipal says so to the compiler.
    const { id, kind, claims, expiresAt } = requirePrincipal(req)
    socket.send(JSON.stringify({ hello: id, kind, tenant: claims.tenant, expiresAt }))
  })

  await app.register(topicAuthz, { policies: [{ pattern: 'status.>', actions: ['subscribe'] }] })
  app.get('/orders/:tenant', {
    websocket: true,
    config: {
      auth: { scopes: ['feed:read'] },
      topics: [{ pattern: 'orders.{tenant}.>', actions: ['subscribe'], scopes: ['feed:read'], where: { tenant: 'claims.tenant' } }],
      handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}.all' }
    }
  }, (socket, req) => {
    // In a real app each client frame names a topic; here the server asks two on the client's behalf.
    const own = req.authorizeTopic('subscribe', `orders.${requirePrincipal(req).claims.tenant}.eu`)
    const other = req.authorizeTopic('subscribe', 'orders.globex.eu')
    socket.send(JSON.stringify({ own: own.allow, other: other.reason }))
  })
  return app
}
