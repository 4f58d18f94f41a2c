/** The labels of one `topic_decisions_total` series. */
export interface DecisionLabels {
  readonly route: string
  readonly action: string
  readonly outcome: 'allow' | 'deny'
  readonly reason: string
  readonly shadow: 'true' | 'false'
}

interface Series { readonly labels: DecisionLabels, pending: number }

/**
 * Topic decisions counted as plain numbers per series, handed to prom-client when the registry
 * is read. A decision is made on every handshake with a handshake topic and on every in-band
 * check: counting it through prom-client's `inc(labels)` built and hashed a label object each
 * time (about 0.5 KiB of garbage per decision). Here it is three map lookups on label values
 * that are already bounded (route, capped action and reason) and one array slot.
 */
export class DecisionTally {
  readonly #routes = new Map<string, Map<string, Map<string, Array<Series | undefined>>>>()

  count (route: string, action: string, allow: boolean, reason: string, shadow: boolean): void {
    let actions = this.#routes.get(route)
    if (actions === undefined) this.#routes.set(route, actions = new Map())
    let reasons = actions.get(action)
    if (reasons === undefined) actions.set(action, reasons = new Map())
    let slots = reasons.get(reason)
    if (slots === undefined) reasons.set(reason, slots = [undefined, undefined, undefined, undefined])
    const i = (allow ? 0 : 2) + (shadow ? 1 : 0)
    let series = slots[i]
    if (series === undefined) {
      slots[i] = series = { labels: { route, action, outcome: allow ? 'allow' : 'deny', reason, shadow: shadow ? 'true' : 'false' }, pending: 0 }
    }
    series.pending++
  }

  /** Hands every count not yet handed over to `inc`, and starts again from 0. */
  flush (inc: (labels: DecisionLabels, n: number) => void): void {
    for (const actions of this.#routes.values()) {
      for (const reasons of actions.values()) {
        for (const slots of reasons.values()) {
          for (const series of slots) {
            if (series === undefined || series.pending === 0) continue
            inc(series.labels, series.pending)
            series.pending = 0
          }
        }
      }
    }
  }
}
