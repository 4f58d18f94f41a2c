// Checks a PromQL expression of the ops files against what telemetry exports: every metric
// it selects is an exported series, every label it matches or groups by is on that series
// (on every series an aggregation groups), and an `le` it matches exactly is a bucket bound.
import type { ExportedSeries } from './exported.js'
import { references } from './promql.js'

/** What Grafana puts in place of its own variables: values of the right shape. */
export const GRAFANA_BUILTINS: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '1m',
  __range: '1h'
}

/**
 * Replaces `$name` and `${name}` with a value: Grafana's own variables with a duration, the
 * dashboard's (`defined`) with `.*` (they stand inside regex matchers). An unknown variable
 * is a problem.
 */
export function substitute (expr: string, defined: ReadonlySet<string>, problems: string[]): string {
  return expr.replace(/\$(?:\{(\w+)\}|(\w+))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string
    const builtin = GRAFANA_BUILTINS[name]
    if (builtin !== undefined) return builtin
    if (defined.has(name)) return '.*'
    problems.push(`undefined variable ${whole}`)
    return whole
  })
}

/** The problems of one expression (none: it refers only to what telemetry exports). */
export function checkExpr (expr: string, series: ReadonlyMap<string, ExportedSeries>): string[] {
  const refs = references(expr)
  const problems = [...refs.problems]
  for (const s of refs.selectors) {
    const known = series.get(s.metric)
    if (known === undefined) {
      problems.push(`metric ${s.metric} is not exported by telemetry`)
      continue
    }
    for (const m of s.matchers) {
      if (!known.labels.has(m.label)) problems.push(`${s.metric} has no label ${m.label}`)
      else if (m.label === 'le' && m.op === '=' && !known.le.has(m.value)) {
        problems.push(`${s.metric} has no bucket le="${m.value}" (bounds: ${[...known.le].join(', ')})`)
      }
    }
  }
  for (const g of refs.groupings) {
    for (const metric of g.metrics) {
      const labels = series.get(metric)?.labels
      if (labels === undefined) continue // reported with its selector
      for (const label of g.labels) if (!labels.has(label)) problems.push(`${g.kind} (${label}): ${metric} has no label ${label}`)
    }
  }
  return problems
}

/** A Markdown heading's anchor as GitHub makes it. */
export function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}
