// The API: all four wsguard plugins and the prices websocket route.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { Type, type Static } from '@sinclair/typebox'
import { authHandshake, requirePrincipal } from '@wsguard/auth-handshake'
import { topicAuthz } from '@wsguard/topic-authz'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry } from '@wsguard/telemetry'
import type { Prices } from './prices.js'
import { AUDIENCE, SCOPE } from './users.js'

// The claims the rules read: checked at the handshake, typed on principal.claims.
const claims = Type.Object({ tenant: Type.String(), roles: Type.Array(Type.String()) })
declare module '@wsguard/core' {
  interface WsguardClaims extends Static<typeof claims> {}
}

/** The app's subprotocol: the server selects it, never the credential entry beside it. */
export const PROTOCOL = 'prices.v1'
export const TICKET_PATH = '/ws-ticket'
/** Handshakes of one principal within `STORM_WINDOW_MS` past which telemetry raises a reconnect storm. */
export const STORM_LIMIT = 20
export const STORM_WINDOW_MS = 10_000

export interface ApiOptions {
  issuer: string
  /** the web app's origin, the only one allowed (known once the app listens) */
  origin: () => string
  noticeMs: number
  graceMs: number
  browserRejection: 'close' | 'http'
  /** audit lines on the app's logger */
  audit: boolean
  prices: Prices
}

export const feedPath = (tenant: string): string => `/ws/prices/${tenant}`

export async function registerApi (app: FastifyInstance, options: ApiOptions): Promise<void> {
  // Telemetry first: its storm gate and timers apply to routes added after it.
  await app.register(telemetry, {
    metrics: { path: '/metrics' },
    audit: options.audit,
    anomalies: {
      // 'log': the storm is seen on the dashboard, nobody is throttled (the demo's pages share one IP).
      reconnectStorm: { perPrincipal: { max: STORM_LIMIT, windowMs: STORM_WINDOW_MS }, action: 'log' },
      failureSpike: { ratio: 5, minPerMinute: 20 }
    }
  })
  await app.register(authHandshake, {
    jwt: { issuer: options.issuer, audience: AUDIENCE, algorithms: ['ES256'], discovery: true, typ: 'at+jwt', claims },
    // Pages connect with a one-time ticket; the storm client (Node) sends its token in a header.
    carriers: ['header', 'subprotocol', 'ticket'],
    allowedOrigins: (origin) => origin === options.origin(),
    tickets: { path: TICKET_PATH },
    browserRejection: options.browserRejection
  })
  await app.register(sessionExpiry, { noticeMs: options.noticeMs, graceMs: options.graceMs })
  await app.register(topicAuthz, {})

  app.get('/ws/prices/:tenant', {
    websocket: true,
    config: {
      auth: { scopes: [SCOPE] },
      topics: [
        // A tenant's own prices; an admin's, any tenant's.
        { pattern: 'prices.{tenant}.>', actions: ['subscribe'], where: { tenant: 'claims.tenant' } },
        { pattern: 'prices.>', actions: ['subscribe'], where: (principal) => principal.claims.roles.includes('admin') }
      ],
      // Checked before the upgrade: alice (acme) cannot open /ws/prices/globex.
      handshakeTopic: { action: 'subscribe', topic: 'prices.{params.tenant}.all' }
    }
  }, (socket, request) => { feed(socket, request, options.prices) })
}

/** A client frame: a JSON object, or nothing the feed knows. */
function parseFrame (text: string): { type?: unknown, topic?: unknown } {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? value : {}
  } catch {
    return {}
  }
}

/** One page's socket: subscribe and unsubscribe frames in, prices and decisions out. */
function feed (socket: WebSocket, request: FastifyRequest, prices: Prices): void {
  const { id, claims } = requirePrincipal(request)
  const session = request.wsSession
  const held = new Map<string, () => void>()
  const send = (message: object): void => { socket.send(JSON.stringify(message)) }
  const drop = (topic: string): void => {
    held.get(topic)?.()
    held.delete(topic)
    session.untrackTopic(topic)
  }
  send({ type: 'hello', socket: session.id, subject: id, tenant: claims.tenant, expiresAt: session.expiresAt })
  socket.on('message', (raw) => {
    const message = parseFrame(String(raw))
    const topic = String(message.topic)
    if (message.type === 'unsubscribe') return drop(topic)
    if (message.type !== 'subscribe') return send({ type: 'error', message: 'unknown frame type' })
    const decision = request.authorizeTopic('subscribe', topic)
    if (!decision.allow) return send({ type: 'denied', topic, reason: decision.reason })
    if (!held.has(topic)) {
      held.set(topic, prices.subscribe(topic, send))
      session.trackTopic(topic, 'subscribe')
    }
    send({ type: 'subscribed', topic, rule: decision.rule })
    const latest = prices.latest(topic)
    if (latest !== undefined) send(latest)
  })
  // A refresh that narrows the grants drops topics (session-expiry re-checks the tracked ones).
  session.on('topic-revoked', ({ topic, action }: { topic: string, action: string }) => { if (action === 'subscribe') drop(topic) })
  socket.on('close', () => { for (const stop of held.values()) stop() })
}
