import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The metrics and their labels. Every label value is bounded (labels.ts): route patterns,
 * catalogue codes, known close codes, capped actions, reasons and selectors, fixed words.
 */
export interface WsguardMetrics {
  readonly registry: Registry
  /** handshakes by route, outcome (accepted | rejected) and code (WSG_* or none) */
  readonly handshakes: Counter<'route' | 'outcome' | 'code'>
  /** seconds from the first wsguard check to its verdict, by route and outcome */
  readonly handshakeDuration: Histogram<'route' | 'outcome'>
  readonly activeSessions: Gauge<'route'>
  /** seconds a session was open, by route and close code (a known one, or `other`) */
  readonly sessionDuration: Histogram<'route' | 'code'>
  /** in-band refreshes by route, outcome (success | failure) and code */
  readonly refreshes: Counter<'route' | 'outcome' | 'code'>
  readonly revocations: Counter<'route' | 'by'>
  /** topic decisions by route, action, outcome (allow | deny) and reason; shadow (true | false) */
  readonly topicDecisions: Counter<'route' | 'action' | 'outcome' | 'reason' | 'shadow'>
  readonly anomalies: Counter<'kind'>
  /** decisions taken without the counter store, by use (ip | principal | failure-spike) and decision (refused | local) */
  readonly counterStoreUnavailable: Counter<'use' | 'decision'>
  /** 1 while a store named in `metrics.stores` can answer, 0 while it cannot, by store name */
  readonly storeAvailable: Gauge<'store'>
}

/** A store's `available`, read at a scrape; a probe that throws counts as unavailable. */
export function isAvailable (probe: { readonly available: boolean }): boolean {
  try {
    return probe.available === true
  } catch {
    return false
  }
}

const SESSION_BUCKETS = [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600]
const HANDSHAKE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

/**
 * Brought up to date when the registry is read (prom-client's `collect`): the counts that
 * change on every handshake are kept as plain numbers per route and handed over then.
 */
export interface Collectors {
  handshakes: (this: Counter<'route' | 'outcome' | 'code'>) => void
  activeSessions: (this: Gauge<'route'>) => void
  storeAvailable: (this: Gauge<'store'>) => void
  topicDecisions: (this: Counter<'route' | 'action' | 'outcome' | 'reason' | 'shadow'>) => void
}

export function createMetrics (registry: Registry, prefix: string, collectors: Collectors): WsguardMetrics {
  const registers = [registry]
  return {
    registry,
    handshakes: new Counter({ name: `${prefix}handshakes_total`, help: 'WebSocket handshakes decided by wsguard, by route, outcome and code', labelNames: ['route', 'outcome', 'code'], registers, collect: collectors.handshakes }),
    handshakeDuration: new Histogram({ name: `${prefix}handshake_duration_seconds`, help: 'Time wsguard spent deciding a handshake', labelNames: ['route', 'outcome'], buckets: HANDSHAKE_BUCKETS, registers }),
    activeSessions: new Gauge({ name: `${prefix}sessions_active`, help: 'Open sessions, by route', labelNames: ['route'], registers, collect: collectors.activeSessions }),
    sessionDuration: new Histogram({ name: `${prefix}session_duration_seconds`, help: 'How long sessions stayed open, by route and close code', labelNames: ['route', 'code'], buckets: SESSION_BUCKETS, registers }),
    refreshes: new Counter({ name: `${prefix}refreshes_total`, help: 'In-band credential refreshes, by route, outcome and code', labelNames: ['route', 'outcome', 'code'], registers }),
    revocations: new Counter({ name: `${prefix}revocations_total`, help: 'Sessions closed by a revocation, by route and selector', labelNames: ['route', 'by'], registers }),
    topicDecisions: new Counter({ name: `${prefix}topic_decisions_total`, help: 'Topic authorization decisions, by route, action, outcome, reason and shadow mode', labelNames: ['route', 'action', 'outcome', 'reason', 'shadow'], registers, collect: collectors.topicDecisions }),
    anomalies: new Counter({ name: `${prefix}anomalies_total`, help: 'Anomalies raised, by kind', labelNames: ['kind'], registers }),
    counterStoreUnavailable: new Counter({ name: `${prefix}counter_store_unavailable_total`, help: 'Decisions the storm gates and the failure-spike detector took without their counter store, by use and decision', labelNames: ['use', 'decision'], registers }),
    storeAvailable: new Gauge({ name: `${prefix}store_available`, help: 'Whether a store wsguard depends on (revocations, sessions, counters) can answer: 1 yes, 0 no, by store', labelNames: ['store'], registers, collect: collectors.storeAvailable })
  }
}
