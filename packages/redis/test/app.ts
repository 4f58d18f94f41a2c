import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { authHandshake, backchannelLogout } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry, type TelemetryOptions } from '@wsguard/telemetry'
import { captureLogs, claimsFor, generateKey, jwks, mintToken, type CapturedLogs } from '@wsguard/testing'
import type { RedisStores } from '../src/index.js'

export const ISS = 'https://idp.test'
export const AUD = 'feed-api'
/** the web app's client id at the OP: the logout tokens' audience */
export const CLIENT_ID = 'feed-web'
const key = generateKey('ES256')

export function token (sub: string, extra: Record<string, unknown> = {}): string {
  return mintToken(key, { ...claimsFor(ISS, AUD, sub, Date.now(), 600), scope: 'feed:read', ...extra })
}

export interface InstanceOptions {
  /** session-expiry's maxSessionsPerPrincipal. Default 0 (none) */
  cap?: number
  /** registers telemetry first, with these options, its log lines kept in `logs` */
  telemetry?: TelemetryOptions
  /** one-time tickets in the shared store (`stores.tickets`) */
  tickets?: boolean
  /** more routes, added before the app listens */
  routes?: (app: FastifyInstance) => void
}

export interface Instance {
  app: FastifyInstance
  url: string
  logs: CapturedLogs
  /** telemetry's audit events, in order */
  audit(): Array<Record<string, unknown>>
}

/** One instance: (telemetry,) auth-handshake and session-expiry on the shared stores, with /feed. */
export async function instance (t: Test, stores: RedisStores, opts: InstanceOptions = {}): Promise<Instance> {
  const logs = captureLogs()
  const app = Fastify(opts.telemetry === undefined ? {} : { logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  if (opts.telemetry !== undefined) await app.register(telemetry, opts.telemetry)
  await app.register(authHandshake, {
    jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) },
    ...(opts.tickets === true ? { carriers: ['header', 'subprotocol', 'ticket'] as const, tickets: { store: stores.tickets } } : {})
  })
  await app.register(sessionExpiry, {
    heartbeatMs: 0, idleTimeoutMs: 0, registry: stores.registry, revocations: stores.revocations, maxSessionsPerPrincipal: opts.cap ?? 0
  })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('hello') })
  opts.routes?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`,
    logs,
    audit: () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.name === 'wsguard.audit').map((l) => l.audit as Record<string, unknown>)
  }
}

/**
 * One instance in front of a real OpenID Provider: auth-handshake finds the OP's keys by
 * discovery, session-expiry and back-channel logout share the Redis stores, and /feed echoes.
 */
export async function oidcInstance (t: Test, stores: RedisStores, issuer: string, build?: (app: FastifyInstance) => void): Promise<{ app: FastifyInstance, url: string, logoutUri: string }> {
  const app = Fastify()
  t.teardown(() => app.close())
  build?.(app)
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer, audience: AUD, algorithms: ['ES256'], discovery: true, typ: 'at+jwt' } })
  await app.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, registry: stores.registry, revocations: stores.revocations })
  await app.register(backchannelLogout, {
    issuers: { issuer, audience: CLIENT_ID, algorithms: ['ES256'], discovery: true },
    revocations: stores.revocations,
    replays: stores.replays
  })
  app.get('/feed', { websocket: true }, (socket) => { socket.on('message', (data) => socket.send(`echo:${String(data)}`)) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const origin = `127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return { app, url: `ws://${origin}/feed`, logoutUri: `http://${origin}/oidc/backchannel-logout` }
}
