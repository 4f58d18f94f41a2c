// The series a Prometheus server scraping telemetry stores, derived from telemetry itself:
// each metric family its registry holds (name and label names), its type from the
// `# TYPE` line of the /metrics text, a histogram expanded to `_bucket` (with `le`),
// `_sum` and `_count` as the exposition format writes them. The /metrics text is then read
// back: every sample in it must be one of the derived series with labels it declares, and
// the `le` bounds of each histogram's buckets are collected from it.

/** Labels Prometheus attaches to every series it scrapes (the target's). */
export const TARGET_LABELS = ['job', 'instance'] as const

export interface ExportedSeries {
  /** the metric family the series belongs to */
  family: string
  type: string
  labels: Set<string>
  /** the `le` bounds its samples carry in the /metrics text (a `_bucket` series; empty for others) */
  le: Set<string>
}

export interface Exported {
  series: Map<string, ExportedSeries>
  /** samples of the /metrics text that the derivation does not account for */
  problems: string[]
}

/** A registered metric as prom-client keeps it (its `labelNames` are not in its typings). */
export interface RegisteredMetric { name: string, labelNames?: readonly string[] }

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export function exported (metrics: readonly RegisteredMetric[], text: string): Exported {
  const types = new Map<string, string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1] as string, m[2] as string)
  const series = new Map<string, ExportedSeries>()
  const problems: string[] = []
  for (const metric of metrics) {
    const type = types.get(metric.name)
    if (type === undefined) {
      problems.push(`${metric.name}: registered but has no # TYPE line in /metrics`)
      continue
    }
    const labels = [...(metric.labelNames ?? []), ...TARGET_LABELS]
    if (type === 'histogram') {
      series.set(`${metric.name}_bucket`, { family: metric.name, type, labels: new Set([...labels, 'le']), le: new Set() })
      series.set(`${metric.name}_sum`, { family: metric.name, type, labels: new Set(labels), le: new Set() })
      series.set(`${metric.name}_count`, { family: metric.name, type, labels: new Set(labels), le: new Set() })
    } else {
      series.set(metric.name, { family: metric.name, type, labels: new Set(labels), le: new Set() })
    }
  }
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    const known = m === null ? undefined : series.get(m[1] as string)
    if (m === null || known === undefined) {
      problems.push(`a sample the derivation does not know: ${line}`)
      continue
    }
    for (const [, label, value] of (m[2] ?? '').matchAll(LABEL)) {
      if (!known.labels.has(label as string)) problems.push(`${m[1]}: label ${label} is not declared: ${line}`)
      if (label === 'le') known.le.add(value as string)
    }
  }
  return { series, problems }
}
