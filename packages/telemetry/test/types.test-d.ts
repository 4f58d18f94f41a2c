// Type tests: compiled by `pnpm typecheck`, never run. Each public option is used once with
// its right type and once, under @ts-expect-error, with a wrong one.
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { Registry } from 'prom-client'
import type { Static } from '@sinclair/typebox'
import { FakeClock } from '@wsguard/testing'
import type { WindowCounter } from '@wsguard/core'
import {
  telemetry, AuditEventSchema, AuditRevocation, AUDIT_SCHEMA_VERSION, DEFAULT_METRICS_PATH, DEFAULT_STORE_TIMEOUT_MS,
  STORE_UNAVAILABLE_RETRY_AFTER_S, MAX_STORE_PROBES, DEFAULT_IPV6_SUBNET, MIN_IPV6_SUBNET, MAX_IPV6_SUBNET, type AuditEvent, type StoreProbe, type TelemetryOptions, type RateWindow, type WsguardTelemetry
} from '../src/index.js'

const perIp: RateWindow = { max: 120, windowMs: 60_000 }
const store: WindowCounter = { hit: () => undefined }
const options: TelemetryOptions = {
  enabled: true,
  metrics: { path: DEFAULT_METRICS_PATH, registry: new Registry(), prefix: 'wsguard_' },
  audit: true,
  anomalies: {
    reconnectStorm: { perPrincipal: { max: 30, windowMs: 60_000 }, perIp, action: 'throttle', maxTrackedKeys: 10_000, ipv6Subnet: DEFAULT_IPV6_SUBNET, store },
    failureSpike: { ratio: 5, minPerMinute: 20, store },
    longSession: { afterMs: 12 * 3_600_000 },
    storeTimeoutMs: DEFAULT_STORE_TIMEOUT_MS
  },
  clock: new FakeClock()
}
const noMetrics: TelemetryOptions = { metrics: false }
const noRoute: TelemetryOptions = { metrics: { path: false } }
const probe: StoreProbe = { get available () { return true } }
const withStores: TelemetryOptions = { metrics: { stores: { redis: probe, sessions: { available: false } } } }
// @ts-expect-error a store probe has a boolean available
const badProbe: TelemetryOptions = { metrics: { stores: { redis: { available: 1 } } } }
const probes: number = MAX_STORE_PROBES

// @ts-expect-error enabled is a boolean
const badEnabled: TelemetryOptions = { enabled: 'yes' }
// @ts-expect-error metrics is false or an object
const badMetrics: TelemetryOptions = { metrics: true }
// @ts-expect-error registry is a prom-client Registry
const badRegistry: TelemetryOptions = { metrics: { registry: {} } }
// @ts-expect-error prefix is a string
const badPrefix: TelemetryOptions = { metrics: { prefix: 1 } }
// @ts-expect-error audit is a boolean
const badAudit: TelemetryOptions = { audit: 'on' }
// @ts-expect-error action is 'log' or 'throttle'
const badAction: TelemetryOptions = { anomalies: { reconnectStorm: { action: 'block' } } }
// @ts-expect-error a window needs windowMs
const badWindow: TelemetryOptions = { anomalies: { reconnectStorm: { perIp: { max: 1 } } } }
// @ts-expect-error maxTrackedKeys is a number
const badKeys: TelemetryOptions = { anomalies: { reconnectStorm: { maxTrackedKeys: 'many' } } }
// @ts-expect-error ipv6Subnet is a number of bits
const badSubnet: TelemetryOptions = { anomalies: { reconnectStorm: { ipv6Subnet: '/56' } } }
const subnetBounds: number[] = [MIN_IPV6_SUBNET, MAX_IPV6_SUBNET]
// @ts-expect-error failureSpike needs minPerMinute
const badSpike: TelemetryOptions = { anomalies: { failureSpike: { ratio: 5 } } }
// @ts-expect-error longSession.afterMs is a number
const badLong: TelemetryOptions = { anomalies: { longSession: { afterMs: '12h' } } }
// @ts-expect-error a store implements WindowCounter
const badStormStore: TelemetryOptions = { anomalies: { reconnectStorm: { store: { incr: () => 1 } } } }
// @ts-expect-error a store answers counts
const badSpikeStore: TelemetryOptions = { anomalies: { failureSpike: { ratio: 5, minPerMinute: 20, store: { hit: () => 1 } } } }
// @ts-expect-error storeTimeoutMs is a number
const badStoreTimeout: TelemetryOptions = { anomalies: { storeTimeoutMs: '2s' } }
// @ts-expect-error clock needs timers
const badClock: TelemetryOptions = { clock: { now: () => 0 } }

const app = Fastify()
await app.register(websocket)
await app.register(telemetry, options)
const t: WsguardTelemetry = app.wsguardTelemetry
const registry: Registry | undefined = app.wsguardTelemetry.registry
const event: AuditEvent = { v: AUDIT_SCHEMA_VERSION, at: 0, event: 'anomaly', kind: 'long-session' }
const also: Static<typeof AuditEventSchema> = event
// @ts-expect-error no such audit event
const badEvent: AuditEvent = { v: 1, at: 0, event: 'session.started', sessionId: 's', route: '/' }

const revocation: Static<typeof AuditRevocation> = { instance: 'api-1', actor: 'admin', reason: 'locked' }
const closedByRevocation: AuditEvent = {
  v: AUDIT_SCHEMA_VERSION, at: 0, event: 'session.closed', sessionId: 's', route: '/', code: 4403, closedBy: 'server', reason: 'access revoked', openedAt: 0, durationMs: 1, framesIn: 0, framesOut: 0, revocation
}

export { badSubnet, subnetBounds, revocation, closedByRevocation, badStormStore, badSpikeStore, badStoreTimeout, STORE_UNAVAILABLE_RETRY_AFTER_S, noMetrics, noRoute, withStores, badProbe, probes, badEnabled, badMetrics, badRegistry, badPrefix, badAudit, badAction, badWindow, badKeys, badSpike, badLong, badClock, t, registry, also, badEvent }
