// The dashboard's test app: @fastify/websocket, telemetry (a per-principal storm gate of 5 a
// minute, throttling), auth-handshake with a test key, session-expiry, one websocket route
// and the dashboard, on 127.0.0.1:0, every wsguard plugin on one fake clock.
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { Test } from 'tap'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry } from '@wsguard/telemetry'
import { captureLogs, claimsFor, connectSocket, FakeClock, generateKey, jwks, mintToken, openSocket, until, type CapturedLogs } from '@wsguard/testing'
import { dashboard, reconnectStorm, type DashboardOptions, type DashboardSnapshot, type StormResult } from '../src/dashboard/index.js'

export const ISS = 'https://idp.test'
export const AUD = 'demo-api'
export const T0 = 1_800_000_000_000
export const STORM_MAX = 5
export const STORM_COUNT = 8
const key = generateKey('ES256')

export interface DashboardHarness {
  app: FastifyInstance
  clock: FakeClock
  logs: CapturedLogs
  /** http://127.0.0.1:<port> */
  origin: string
  /** ws://127.0.0.1:<port>/feed */
  feed: string
  token: (sub: string, lifetimeS?: number) => string
  /** the dashboard's JSON, as a browser gets it */
  data: () => Promise<DashboardSnapshot>
  /** what each storm the button started returned */
  storms: StormResult[]
  /** the store telemetry reports as `wsguard_store_available{store="sessions"}` */
  store: { available: boolean }
}

export interface HarnessOptions {
  /** replaces the storm the button starts; `null` gives the dashboard none */
  storm?: DashboardOptions['storm'] | null
  path?: string
  metricPrefix?: string
}

export async function dashboardApp (t: Test, options: HarnessOptions = {}): Promise<DashboardHarness> {
  const clock = new FakeClock(T0)
  const logs = captureLogs()
  const store = { available: true }
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(telemetry, {
    clock,
    audit: false,
    metrics: { path: false, stores: { sessions: store }, ...(options.metricPrefix === undefined ? {} : { prefix: options.metricPrefix }) },
    anomalies: { reconnectStorm: { perPrincipal: { max: STORM_MAX, windowMs: 60_000 }, action: 'throttle' } }
  })
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), clockToleranceMs: 0 }, clock })
  await app.register(sessionExpiry, { clock, heartbeatMs: 0, idleTimeoutMs: 0 })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('hello') })

  const token = (sub: string, lifetimeS = 3600): string => mintToken(key, claimsFor(ISS, AUD, sub, clock.now(), lifetimeS))
  const storms: StormResult[] = []
  let feed = ''
  const storm = async (): Promise<void> => { storms.push(await reconnectStorm({ url: feed, getCredential: () => token('mallory'), count: STORM_COUNT })) }
  await app.register(dashboard, {
    registry: app.wsguardTelemetry.registry,
    ...(options.storm === null ? {} : { storm: options.storm ?? storm }),
    ...(options.path === undefined ? {} : { path: options.path }),
    ...(options.metricPrefix === undefined ? {} : { metricPrefix: options.metricPrefix })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  feed = `ws://127.0.0.1:${port}/feed`
  const origin = `http://127.0.0.1:${port}`
  const dataPath = `${options.path ?? '/dashboard'}/data`
  const data = async (): Promise<DashboardSnapshot> => {
    const response = await fetch(`${origin}${dataPath}`)
    if (response.status !== 200) throw new Error(`${dataPath} answered ${response.status}`)
    return await response.json() as DashboardSnapshot
  }
  return { app, clock, logs, origin, feed, token, data, storms, store }
}

/** A snapshot without its time, to compare two reads. */
export function numbers (s: DashboardSnapshot): Omit<DashboardSnapshot, 'at'> {
  const { at: _at, ...rest } = s
  return rest
}

/**
 * The scenario before the storm: alice, bob and carol connect (3 accepted); two handshakes
 * without a token and one with an expired token are refused; 90 s later (fake clock) carol
 * leaves, so alice and bob stay open. Resolves once the dashboard's JSON shows all of it.
 */
export async function scenario (t: Test, h: DashboardHarness): Promise<void> {
  const teardown = (fn: () => void): void => { t.teardown(fn) }
  await openSocket(h.feed, { token: h.token('alice'), teardown })
  await openSocket(h.feed, { token: h.token('bob'), teardown })
  const carol = await openSocket(h.feed, { token: h.token('carol'), teardown })
  const expired = mintToken(key, claimsFor(ISS, AUD, 'dave', T0 - 7_200_000, 60))
  const refusals = [await connectSocket(h.feed, { teardown }), await connectSocket(h.feed, { teardown }), await connectSocket(h.feed, { token: expired, teardown })]
  t.same(refusals.map((r) => 'refused' in r && r.body.code), ['WSG_CREDENTIAL_MISSING', 'WSG_CREDENTIAL_MISSING', 'WSG_TOKEN_EXPIRED'], "the scenario's refusals, as the clients saw them")
  h.clock.advance(90_000)
  carol.ws.close(1000, 'bye')
  await carol.closed
  await until(async () => (await h.data()).sessionDurations.count === 1, "carol's session counted as ended")
}

/** What the dashboard must show after `scenario`, and after the storm on top of it. */
export const BEFORE_STORM = {
  accepted: 3,
  rejected: 3,
  byCode: [
    { outcome: 'accepted', code: 'none', count: 3 },
    { outcome: 'rejected', code: 'WSG_CREDENTIAL_MISSING', count: 2 },
    { outcome: 'rejected', code: 'WSG_TOKEN_EXPIRED', count: 1 }
  ],
  active: 2,
  ended: 1,
  /** carol's 90 s is in the (60, 300] bucket: 60 + 240 × q */
  p50: 180,
  p95: 288
}

export const AFTER_STORM = {
  /** the gate lets STORM_MAX of mallory's STORM_COUNT through, and refuses the rest 429 */
  accepted: 3 + STORM_MAX,
  rejected: 3 + (STORM_COUNT - STORM_MAX),
  byCode: [
    { outcome: 'accepted', code: 'none', count: 3 + STORM_MAX },
    { outcome: 'rejected', code: 'WSG_CREDENTIAL_MISSING', count: 2 },
    { outcome: 'rejected', code: 'WSG_RATE_LIMITED', count: STORM_COUNT - STORM_MAX },
    { outcome: 'rejected', code: 'WSG_TOKEN_EXPIRED', count: 1 }
  ],
  active: 2,
  /** carol and the storm's five sessions, which lasted 0 s on the fake clock */
  ended: 1 + STORM_MAX,
  /** five sessions in the first bucket (≤ 1 s), carol's in (60, 300] */
  p50: 0.6,
  p95: 228,
  stormAnomalies: 1
}
