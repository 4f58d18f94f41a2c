import fp from 'fastify-plugin'
import { telemetryPlugin, type WsguardTelemetry } from './plugin.js'

export type { WsguardTelemetry } from './plugin.js'
export type { TelemetryOptions, RateWindow, StoreProbe } from './options.js'
export { DEFAULT_METRICS_PATH, DEFAULT_METRICS_PREFIX, DEFAULT_STORM_ACTION, DEFAULT_STORE_TIMEOUT_MS, MAX_STORE_PROBES } from './options.js'
export { STORE_UNAVAILABLE_RETRY_AFTER_S } from './gates.js'
export { DEFAULT_MAX_TRACKED_KEYS } from './window.js'
export { DEFAULT_IPV6_SUBNET, MIN_IPV6_SUBNET, MAX_IPV6_SUBNET } from './ip-key.js'
export { MAX_LABEL_LENGTH, MAX_LABEL_VALUES } from './labels.js'
export { AuditEventSchema, AuditSubject, AuditRevocation, AUDIT_SCHEMA_VERSION, type AuditEvent } from './audit.js'
export type { WsguardMetrics } from './metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    wsguardTelemetry: WsguardTelemetry
  }
}

/**
 * Metrics, audit events and anomaly detection for wsguard-governed sockets, from the
 * `@wsguard/core` diagnostics channels: works with any subset of the other plugins.
 */
export const telemetry = fp(telemetryPlugin, {
  fastify: '5.x',
  name: '@wsguard/telemetry',
  dependencies: ['@fastify/websocket']
})

export default telemetry
