import type { Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { topicAuthz } from '@wsguard/topic-authz'
import { captureLogs, claimsFor, connectSocket, FakeClock, generateKey, jwks, mintToken, openSocket, type CapturedLogs, type Refusal, type SocketClient } from '@wsguard/testing'
import { telemetry, type TelemetryOptions } from '../src/index.js'
import { parseMetrics } from './prom.js'

export const ISS = 'https://idp.test'
export const AUD = 'feed-api'
export const key = generateKey('ES256')
export const T0 = 1_800_000_000_000

export interface Harness {
  app: FastifyInstance
  clock: FakeClock
  logs: CapturedLogs
  base: string
  token: (sub: string, lifetimeS?: number, extra?: Record<string, unknown>) => string
  metrics: () => Promise<Map<string, number>>
  audit: () => Array<Record<string, unknown>>
}

/**
 * Every wsguard plugin on one fake clock, telemetry first. /feed/:tenant checks the handshake
 * topic `feed.{params.tenant}` against the token's tenant and answers each frame with the
 * topic decision for it.
 */
export async function harness (t: Test, opts: TelemetryOptions = {}, extra?: (app: FastifyInstance) => void, level = 'info'): Promise<Harness> {
  const clock = new FakeClock(T0)
  const logs = captureLogs()
  const app = Fastify({ logger: { level, stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(telemetry, { clock, ...opts })
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), clockToleranceMs: 0 }, clock })
  await app.register(sessionExpiry, { clock, heartbeatMs: 0, idleTimeoutMs: 0 })
  await app.register(topicAuthz, { policies: [{ pattern: 'feed.{tenant}.>', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }, { pattern: 'feed.{tenant}', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] })
  app.get('/feed/:tenant', { websocket: true, config: { handshakeTopic: { action: 'subscribe', topic: 'feed.{params.tenant}' } } }, (socket, req) => {
    socket.on('message', (raw) => socket.send(JSON.stringify(req.authorizeTopic('subscribe', String(raw)))))
  })
  extra?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    clock,
    logs,
    base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    token: (sub, lifetimeS = 3600, extra = {}) => mintToken(key, { ...claimsFor(ISS, AUD, sub, clock.now(), lifetimeS), tenant: 'acme', ...extra }),
    metrics: async () => parseMetrics((await app.inject('/metrics')).body),
    audit: () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.name === 'wsguard.audit').map((l) => l.audit as Record<string, unknown>)
  }
}

export type Client = SocketClient
export type Refused = Refusal

export function connect (t: Test, url: string, token?: string): Promise<Client | Refused> {
  return connectSocket(url, { ...(token !== undefined ? { token } : {}), teardown: (fn) => t.teardown(fn) })
}

export async function open (t: Test, url: string, token?: string): Promise<Client> {
  return await openSocket(url, { ...(token !== undefined ? { token } : {}), teardown: (fn) => t.teardown(fn) })
}

export { until } from '@wsguard/testing'
