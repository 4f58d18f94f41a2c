import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { authHandshake, requirePrincipal } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'

export interface IngestOptions {
  /** this service's TLS certificate and key, and the workload CA its clients' certificates chain to */
  tls: { cert: string, key: string, ca: string }
  /** the token issuer: its name and public keys */
  issuer: { issuer: string, jwks: { keys: Array<Record<string, unknown>> } }
  logger?: boolean
}

/**
 * The ingest service: accepts streams only from workloads of `prod.example` in the billing
 * namespace, each presenting its certificate and an access token bound to it (RFC 8705).
 */
export async function buildIngest (opts: IngestOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? true,
    // The TLS layer asks for a client certificate and checks it against the CA; the handshake
    // decides what a missing or unauthorized one means (401 before the upgrade).
    https: { cert: opts.tls.cert, key: opts.tls.key, ca: [opts.tls.ca], requestCert: true, rejectUnauthorized: false }
  }) as unknown as FastifyInstance
  await app.register(websocket)
  await app.register(authHandshake, {
    mtls: { trustDomains: ['prod.example'], allow: ['spiffe://prod.example/ns/billing/sa/*'] },
    jwt: { issuer: opts.issuer.issuer, audience: 'ingest', algorithms: ['ES256'], jwks: opts.issuer.jwks, certificateBound: 'required' }
  })
  // The socket closes when the token or the certificate ages out, whichever comes first.
  await app.register(sessionExpiry, { noticeMs: 30_000 })
  app.get('/ingest', { websocket: true, config: { auth: { methods: ['jwt+mtls'], scopes: ['ingest:write'] } } }, (socket, req) => {
    let received = 0
    socket.on('message', (raw) => {
      received++
      if (String(raw) !== 'done') return
      const { certificate, id, method } = requirePrincipal(req)
      socket.send(JSON.stringify({ received, from: certificate?.spiffeId, as: id, method }))
    })
  })
  return app
}
