// Type tests: compiled by `pnpm typecheck`, never run. Each public option is used once with
// its right type and once, under @ts-expect-error, with a wrong one.
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { Registry } from 'prom-client'
import type { Static } from '@sinclair/typebox'
import { FakeClock } from '@wsguard/testing'
import { telemetry, AuditEventSchema, AUDIT_SCHEMA_VERSION, DEFAULT_METRICS_PATH, type AuditEvent, type TelemetryOptions, type RateWindow, type WsguardTelemetry } from '../src/index.js'

const perIp: RateWindow = { max: 120, windowMs: 60_000 }
const options: TelemetryOptions = {
  enabled: true,
  metrics: { path: DEFAULT_METRICS_PATH, registry: new Registry(), prefix: 'wsguard_' },
  audit: true,
  anomalies: {
    reconnectStorm: { perPrincipal: { max: 30, windowMs: 60_000 }, perIp, action: 'throttle', maxTrackedKeys: 10_000 },
    failureSpike: { ratio: 5, minPerMinute: 20 },
    longSession: { afterMs: 12 * 3_600_000 }
  },
  clock: new FakeClock()
}
const noMetrics: TelemetryOptions = { metrics: false }
const noRoute: TelemetryOptions = { metrics: { path: false } }

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
// @ts-expect-error failureSpike needs minPerMinute
const badSpike: TelemetryOptions = { anomalies: { failureSpike: { ratio: 5 } } }
// @ts-expect-error longSession.afterMs is a number
const badLong: TelemetryOptions = { anomalies: { longSession: { afterMs: '12h' } } }
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

export { noMetrics, noRoute, badEnabled, badMetrics, badRegistry, badPrefix, badAudit, badAction, badWindow, badKeys, badSpike, badLong, badClock, t, registry, also, badEvent }
