import type { Registry } from 'prom-client'
import { invalidOption, isTimerClock, isWindowCounter, systemTimerClock, timerDelay, type TimerClock, type WindowCounter } from '@wsguard/core'
import { DEFAULT_MAX_TRACKED_KEYS } from './window.js'
import { DEFAULT_IPV6_SUBNET, MAX_IPV6_SUBNET, MIN_IPV6_SUBNET } from './ip-key.js'

export const DEFAULT_METRICS_PATH = '/metrics'
export const DEFAULT_METRICS_PREFIX = 'wsguard_'
export const DEFAULT_STORM_ACTION = 'log'
export const DEFAULT_EWMA_ALPHA = 0.3
export const DEFAULT_STORE_TIMEOUT_MS = 2_000

export interface RateWindow {
  /** events allowed in the window */
  max: number
  /** window length, ms */
  windowMs: number
}

/** Anything that can say whether it can answer now (`@wsguard/redis`'s stores do). */
export interface StoreProbe {
  readonly available: boolean
}

/** The most stores `metrics.stores` names; each name is a label value. */
export const MAX_STORE_PROBES = 16
const STORE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/

export interface TelemetryOptions {
  /** `false` turns everything off: no route, no hook, no subscription. Default true */
  enabled?: boolean
  /** Prometheus metrics; `false` for none. Default `{ path: '/metrics' }` */
  metrics?: false | {
    /** route serving the text format; `false` to serve none (read `registry` yourself). Default '/metrics' */
    path?: string | false
    /** the prom-client registry to register on (share your app's). Default a new one */
    registry?: Registry
    /** metric name prefix. Default 'wsguard_' */
    prefix?: string
    /**
     * stores to report as `wsguard_store_available{store}` (1 can answer, 0 cannot), read when
     * the registry is scraped, by the name you give (e.g. `{ redis: redisStores(...) }`: any
     * object with a boolean `available`). Default none
     */
    stores?: Record<string, StoreProbe>
  }
  /** structured audit events on the child logger `wsguard.audit`. Default true */
  audit?: boolean
  anomalies?: {
    /** reconnect storms over sliding windows; each side optional */
    reconnectStorm?: {
      /** per verified principal (issuer + subject) */
      perPrincipal?: RateWindow
      /** per remote address; runs before any signature work */
      perIp?: RateWindow
      /** 'log' raises an anomaly; 'throttle' also answers 429 WSG_RATE_LIMITED with Retry-After. Default 'log' */
      action?: 'log' | 'throttle'
      /** keys (IPs, principals) tracked at once per window; past it one not seen lately is dropped (second chance). Default 10000 */
      maxTrackedKeys?: number
      /** `perIp` counts an IPv6 address by its first this many bits (an integer, 32–128; 128: the whole address). Default 56 */
      ipv6Subnet?: number
      /**
       * counts shared by every instance (`@wsguard/redis`'s `counters`), one call per gated
       * handshake; this process's windows are kept too, for when the store lets it decide
       * alone. Default none: this process's windows only
       */
      store?: WindowCounter
    }
    /** rejections in a minute against their own moving (EWMA) baseline */
    failureSpike?: {
      /** a minute with at least `ratio` × the baseline is a spike */
      ratio: number
      /** and at least this many rejections */
      minPerMinute: number
      /** rejections counted with every instance's (`@wsguard/redis`'s `counters`). Default none: this process's */
      store?: WindowCounter
    }
    /** sessions open longer than this, ms */
    longSession?: { afterMs: number }
    /** a counter store that has not answered within this long has failed, ms. Default 2000 */
    storeTimeoutMs?: number
  }
  /** time and timers. Default the system clock */
  clock?: TimerClock
}

export interface TelemetryConfig {
  readonly metrics: false | { readonly path: string | false, readonly registry: Registry | undefined, readonly prefix: string, readonly stores: ReadonlyArray<readonly [string, StoreProbe]> }
  readonly audit: boolean
  readonly perPrincipal: RateWindow | undefined
  readonly perIp: RateWindow | undefined
  readonly throttle: boolean
  readonly maxTrackedKeys: number
  readonly ipv6Subnet: number
  readonly stormStore: WindowCounter | undefined
  readonly failureSpike: { readonly ratio: number, readonly minPerMinute: number, readonly store: WindowCounter | undefined } | undefined
  readonly storeTimeoutMs: number
  readonly longSessionMs: number | undefined
  readonly clock: TimerClock
}

function keysOf (value: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(`${path} must be an object`)
  for (const k of Object.keys(value)) if (!allowed.includes(k)) throw invalidOption(`${path}.${k} is not an option`)
  return value as Record<string, unknown>
}

function positive (value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) throw invalidOption(`${path} must be an integer ≥ 1`)
  return value as number
}

function rateWindow (value: unknown, path: string): RateWindow | undefined {
  if (value === undefined) return undefined
  const v = keysOf(value, path, ['max', 'windowMs'])
  return Object.freeze({ max: positive(v.max, `${path}.max`), windowMs: positive(v.windowMs, `${path}.windowMs`) })
}

function storeProbes (value: unknown): ReadonlyArray<readonly [string, StoreProbe]> {
  if (value === undefined) return []
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption('opts.metrics.stores must be an object of stores by name')
  const entries = Object.entries(value)
  if (entries.length > MAX_STORE_PROBES) throw invalidOption(`opts.metrics.stores names at most ${MAX_STORE_PROBES} stores`)
  return Object.freeze(entries.map(([name, probe]) => {
    if (!STORE_NAME.test(name)) throw invalidOption(`opts.metrics.stores: ${JSON.stringify(name)} is not a name of 1 to 64 letters, digits, _ . : -`)
    if (typeof probe !== 'object' || probe === null || typeof (probe as StoreProbe).available !== 'boolean') {
      throw invalidOption(`opts.metrics.stores.${name} must have a boolean \`available\``)
    }
    return Object.freeze([name, probe as StoreProbe] as const)
  }))
}

function counterStore (value: unknown, path: string): WindowCounter | undefined {
  if (value !== undefined && !isWindowCounter(value)) throw invalidOption(`${path} must implement WindowCounter (hit)`)
  return value
}

/** Checks the plugin's options once, at registration; every message names the option. */
export function validateOptions (opts: unknown): TelemetryConfig | false {
  const o = keysOf(opts, 'opts', ['enabled', 'metrics', 'audit', 'anomalies', 'clock'])
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean') throw invalidOption('opts.enabled must be a boolean')
  if (o.enabled === false) return false

  let metrics: TelemetryConfig['metrics'] = { path: DEFAULT_METRICS_PATH, registry: undefined, prefix: DEFAULT_METRICS_PREFIX, stores: [] }
  if (o.metrics === false) {
    metrics = false
  } else if (o.metrics !== undefined) {
    const m = keysOf(o.metrics, 'opts.metrics', ['path', 'registry', 'prefix', 'stores'])
    if (m.path !== undefined && m.path !== false && (typeof m.path !== 'string' || !m.path.startsWith('/'))) throw invalidOption("opts.metrics.path must be a path starting with '/', or false")
    if (m.registry !== undefined && (typeof m.registry !== 'object' || m.registry === null || typeof (m.registry as Registry).registerMetric !== 'function')) {
      throw invalidOption('opts.metrics.registry must be a prom-client Registry')
    }
    if (m.prefix !== undefined && (typeof m.prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.prefix))) throw invalidOption('opts.metrics.prefix must be a valid Prometheus name prefix')
    metrics = { path: (m.path ?? DEFAULT_METRICS_PATH) as string | false, registry: m.registry as Registry | undefined, prefix: (m.prefix ?? DEFAULT_METRICS_PREFIX) as string, stores: storeProbes(m.stores) }
  }
  if (o.audit !== undefined && typeof o.audit !== 'boolean') throw invalidOption('opts.audit must be a boolean')

  const a = o.anomalies === undefined ? {} : keysOf(o.anomalies, 'opts.anomalies', ['reconnectStorm', 'failureSpike', 'longSession', 'storeTimeoutMs'])
  const storm = a.reconnectStorm === undefined ? {} : keysOf(a.reconnectStorm, 'opts.anomalies.reconnectStorm', ['perPrincipal', 'perIp', 'action', 'maxTrackedKeys', 'ipv6Subnet', 'store'])
  if (storm.action !== undefined && storm.action !== 'log' && storm.action !== 'throttle') throw invalidOption("opts.anomalies.reconnectStorm.action must be 'log' or 'throttle'")
  const ipv6Subnet = storm.ipv6Subnet ?? DEFAULT_IPV6_SUBNET
  if (!Number.isInteger(ipv6Subnet) || (ipv6Subnet as number) < MIN_IPV6_SUBNET || (ipv6Subnet as number) > MAX_IPV6_SUBNET) {
    throw invalidOption(`opts.anomalies.reconnectStorm.ipv6Subnet must be an integer from ${MIN_IPV6_SUBNET} to ${MAX_IPV6_SUBNET}`)
  }
  let failureSpike: TelemetryConfig['failureSpike']
  if (a.failureSpike !== undefined) {
    const f = keysOf(a.failureSpike, 'opts.anomalies.failureSpike', ['ratio', 'minPerMinute', 'store'])
    if (typeof f.ratio !== 'number' || !Number.isFinite(f.ratio) || f.ratio <= 1) throw invalidOption('opts.anomalies.failureSpike.ratio must be a number > 1')
    failureSpike = Object.freeze({
      ratio: f.ratio,
      minPerMinute: positive(f.minPerMinute, 'opts.anomalies.failureSpike.minPerMinute'),
      store: counterStore(f.store, 'opts.anomalies.failureSpike.store')
    })
  }
  let longSessionMs: number | undefined
  if (a.longSession !== undefined) {
    const l = keysOf(a.longSession, 'opts.anomalies.longSession', ['afterMs'])
    longSessionMs = positive(l.afterMs, 'opts.anomalies.longSession.afterMs')
  }
  if (o.clock !== undefined && !isTimerClock(o.clock)) throw invalidOption('opts.clock must implement TimerClock (now, setTimer, clearTimer)')
  return Object.freeze({
    metrics: metrics === false ? false : Object.freeze(metrics),
    audit: (o.audit ?? true) as boolean,
    perPrincipal: rateWindow(storm.perPrincipal, 'opts.anomalies.reconnectStorm.perPrincipal'),
    perIp: rateWindow(storm.perIp, 'opts.anomalies.reconnectStorm.perIp'),
    throttle: (storm.action ?? DEFAULT_STORM_ACTION) === 'throttle',
    maxTrackedKeys: storm.maxTrackedKeys === undefined ? DEFAULT_MAX_TRACKED_KEYS : positive(storm.maxTrackedKeys, 'opts.anomalies.reconnectStorm.maxTrackedKeys'),
    ipv6Subnet: ipv6Subnet as number,
    stormStore: counterStore(storm.store, 'opts.anomalies.reconnectStorm.store'),
    failureSpike,
    storeTimeoutMs: a.storeTimeoutMs === undefined ? DEFAULT_STORE_TIMEOUT_MS : timerDelay(positive(a.storeTimeoutMs, 'opts.anomalies.storeTimeoutMs'), 'opts.anomalies.storeTimeoutMs'),
    longSessionMs,
    clock: (o.clock ?? systemTimerClock) as TimerClock
  })
}
