// What the dashboard shows, read from telemetry's own metrics (prom-client's
// `getMetricsAsJSON()`), summed over routes where a chart wants one line. Only label values
// telemetry already bounds end up here (route patterns, catalogue codes, fixed words, store
// names fixed at registration), and every list is cut at MAX_ROWS on top of that.

/** One metric as prom-client's `getMetricsAsJSON()` gives it (only what is read here). */
export interface MetricJson {
  name: string
  values: ReadonlyArray<{ value: number, metricName?: string, labels: Partial<Record<string, string | number>> }>
}

/** What `getMetricsAsJSON()` is read from: telemetry's `app.wsguardTelemetry.registry`. */
export interface MetricsSource {
  getMetricsAsJSON: () => Promise<MetricJson[]>
}

/** The anomaly kinds telemetry raises; each is always in the snapshot, 0 until raised. */
export const ANOMALY_KINDS = ['reconnect-storm', 'failure-spike', 'long-session'] as const

/** The most rows any list of the snapshot holds. */
export const MAX_ROWS = 64

export interface DurationBucket {
  /** upper bound in seconds, `'+Inf'` for the last */
  le: number | '+Inf'
  /** sessions that lasted at most `le` (cumulative, as Prometheus counts) */
  count: number
}

export interface DashboardSnapshot {
  /** when it was read, ms since the epoch */
  at: number
  handshakes: {
    accepted: number
    rejected: number
    /** per outcome and code, summed over routes; sorted by outcome, then code */
    byCode: Array<{ outcome: string, code: string, count: number }>
  }
  sessions: {
    active: number
    byRoute: Array<{ route: string, active: number }>
  }
  sessionDurations: {
    count: number
    sumSeconds: number
    buckets: DurationBucket[]
    /** estimated as Prometheus's `histogram_quantile` does; null before any session ended */
    p50: number | null
    p95: number | null
  }
  refreshes: { success: number, failure: number }
  revocations: number
  anomalies: Record<string, number>
  stores: Array<{ store: string, available: boolean }>
  /** whether the dashboard was given a storm to start */
  storm: boolean
}

const str = (v: string | number | undefined): string => (v === undefined ? '' : String(v))

function sumBy (metric: MetricJson | undefined, key: (labels: Partial<Record<string, string | number>>) => string | undefined, metricName?: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const v of metric?.values ?? []) {
    if (metricName !== undefined && v.metricName !== metricName) continue
    const k = key(v.labels)
    if (k !== undefined) out.set(k, (out.get(k) ?? 0) + v.value)
  }
  return out
}

/**
 * The `q` quantile of a cumulative histogram, interpolated linearly inside its bucket (as
 * Prometheus's `histogram_quantile`); in the `+Inf` bucket, the highest finite bound.
 */
export function quantile (q: number, buckets: readonly DurationBucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0
  if (total === 0) return null
  const rank = q * total
  // Found for any q up to 1: the last bucket holds every observation.
  const i = buckets.findIndex((b) => b.count >= rank)
  const bucket = buckets[i] as DurationBucket
  // The bucket below is never '+Inf', the last.
  const lower = (buckets[i - 1]?.le ?? 0) as number
  const below = buckets[i - 1]?.count ?? 0
  if (bucket.le === '+Inf') return lower
  return bucket.count === below ? bucket.le : lower + (bucket.le - lower) * (rank - below) / (bucket.count - below)
}

/** Reads the dashboard's numbers from telemetry's metrics, named with `prefix` (telemetry's `metrics.prefix`). */
export function snapshot (metrics: readonly MetricJson[], prefix: string, at: number, storm: boolean): DashboardSnapshot {
  const byName = new Map(metrics.map((m) => [m.name, m]))
  const get = (name: string): MetricJson | undefined => byName.get(`${prefix}${name}`)

  const handshakes = sumBy(get('handshakes_total'), (l) => `${str(l.outcome)}\u0000${str(l.code)}`)
  const byCode = [...handshakes]
    .map(([k, count]) => { const [outcome, code] = k.split('\u0000') as [string, string]; return { outcome, code, count } })
    .sort((a, b) => a.outcome.localeCompare(b.outcome) || a.code.localeCompare(b.code))
  const total = (outcome: string): number => byCode.reduce((n, r) => (r.outcome === outcome ? n + r.count : n), 0)

  const active = sumBy(get('sessions_active'), (l) => str(l.route))
  const byRoute = [...active].map(([route, n]) => ({ route, active: n })).sort((a, b) => a.route.localeCompare(b.route))

  const durations = get('session_duration_seconds')
  const bucketCounts = sumBy(durations, (l) => str(l.le), `${prefix}session_duration_seconds_bucket`)
  const buckets: DurationBucket[] = [...bucketCounts]
    .map(([le, count]) => ({ le: le === '+Inf' ? '+Inf' as const : Number(le), count }))
    .sort((a, b) => (a.le === '+Inf' ? 1 : b.le === '+Inf' ? -1 : a.le - b.le))
  const one = (m: Map<string, number>): number => m.get('') ?? 0

  const refreshes = sumBy(get('refreshes_total'), (l) => str(l.outcome))
  const anomalies: Record<string, number> = Object.fromEntries(ANOMALY_KINDS.map((k) => [k, 0]))
  for (const [kind, n] of sumBy(get('anomalies_total'), (l) => str(l.kind))) if (Object.keys(anomalies).length < MAX_ROWS || kind in anomalies) anomalies[kind] = n
  const stores = [...sumBy(get('store_available'), (l) => str(l.store))]
    .map(([store, v]) => ({ store, available: v === 1 }))
    .sort((a, b) => a.store.localeCompare(b.store))

  return {
    at,
    handshakes: { accepted: total('accepted'), rejected: total('rejected'), byCode: byCode.slice(0, MAX_ROWS) },
    sessions: { active: byRoute.reduce((n, r) => n + r.active, 0), byRoute: byRoute.slice(0, MAX_ROWS) },
    sessionDurations: {
      count: one(sumBy(durations, () => '', `${prefix}session_duration_seconds_count`)),
      sumSeconds: one(sumBy(durations, () => '', `${prefix}session_duration_seconds_sum`)),
      buckets: buckets.slice(0, MAX_ROWS),
      p50: quantile(0.5, buckets),
      p95: quantile(0.95, buckets)
    },
    refreshes: { success: refreshes.get('success') ?? 0, failure: refreshes.get('failure') ?? 0 },
    revocations: one(sumBy(get('revocations_total'), () => '')),
    anomalies,
    stores: stores.slice(0, MAX_ROWS),
    storm
  }
}
