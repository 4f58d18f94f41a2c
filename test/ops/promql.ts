// What a PromQL expression refers to, read with Prometheus's own lezer grammar
// (@prometheus-io/lezer-promql): the metric and labels of each selector, and the labels of
// each `by (...)` / `without (...)` with the metrics it groups. It reads the subset of PromQL
// the ops files use; anything else (a selector without a metric name, quoted label names,
// `on`/`ignoring` matching) is reported as unsupported rather than passed unchecked.
import { parser } from '@prometheus-io/lezer-promql'

type Node = ReturnType<typeof parser.parse>['topNode']

export interface Matcher { label: string, op: string, value: string }
export interface Selector { metric: string, matchers: Matcher[] }
export interface Grouping {
  /** `by` or `without` */
  kind: string
  labels: string[]
  /** the metric of every selector inside the aggregation */
  metrics: string[]
}

export interface References {
  selectors: Selector[]
  groupings: Grouping[]
  /** syntax errors and unsupported constructs, each with its offset in the expression */
  problems: string[]
}

const UNSUPPORTED = new Set(['MatchingModifierClause', 'QuotedLabelName', 'QuotedLabelMatcher'])

function children (node: Node): Node[] {
  const out: Node[] = []
  for (let c = node.firstChild; c !== null; c = c.nextSibling) out.push(c)
  return out
}

function child (node: Node, name: string): Node | undefined {
  return children(node).find((c) => c.name === name)
}

/** Parses a PromQL expression and lists what it refers to. */
export function references (expr: string): References {
  const text = (n: Node): string => expr.slice(n.from, n.to)
  const out: References = { selectors: [], groupings: [], problems: [] }
  const selectorsIn = (n: Node): string[] => {
    const found: string[] = []
    const visit = (m: Node): void => {
      const id = m.name === 'VectorSelector' ? child(m, 'Identifier') : undefined
      if (id !== undefined) found.push(text(id))
      children(m).forEach(visit)
    }
    visit(n)
    return found
  }
  const walk = (n: Node): void => {
    if (n.type.isError) out.problems.push(`syntax error at ${n.from}: ${JSON.stringify(expr.slice(n.from, n.from + 20))}`)
    else if (UNSUPPORTED.has(n.name)) out.problems.push(`unsupported by this check at ${n.from}: ${n.name} ${JSON.stringify(text(n))}`)
    else if (n.name === 'VectorSelector') selector(n)
    else if (n.name === 'AggregateModifier') {
      const body = child(n.parent as Node, 'FunctionCallBody') as Node // the grammar puts one beside every modifier
      out.groupings.push({
        kind: text(n.firstChild as Node),
        labels: children(child(n, 'GroupingLabels') as Node).map(text),
        metrics: selectorsIn(body)
      })
    }
    children(n).forEach(walk)
  }
  const selector = (n: Node): void => {
    const id = child(n, 'Identifier')
    if (id === undefined) {
      out.problems.push(`unsupported by this check at ${n.from}: a selector without a metric name ${JSON.stringify(text(n))}`)
      return
    }
    const matchers: Matcher[] = []
    for (const m of children(child(n, 'LabelMatchers') ?? n).filter((c) => c.name === 'UnquotedLabelMatcher')) {
      const [label, op, value] = children(m).map(text) as [string, string, string]
      if (!value.startsWith('"')) out.problems.push(`unsupported by this check at ${m.from}: a label value not in double quotes ${value}`)
      else matchers.push({ label, op, value: JSON.parse(value) as string })
    }
    out.selectors.push({ metric: text(id), matchers })
  }
  walk(parser.parse(expr).topNode)
  return out
}
