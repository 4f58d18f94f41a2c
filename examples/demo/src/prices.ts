// The prices the server publishes: a random walk per instrument, one tick every
// `intervalMs`, delivered to whoever subscribed the instrument's topic.
import { INSTRUMENTS } from './users.js'

export interface Tick {
  type: 'price'
  topic: string
  price: number
  /** change since the previous tick */
  change: number
  at: number
}

export type Listener = (tick: Tick) => void

export interface Prices {
  /** every topic that has prices: `prices.<tenant>.<instrument>` */
  readonly topics: readonly string[]
  /** the latest tick of a topic, if it has prices */
  latest(topic: string): Tick | undefined
  /** listens to a topic's ticks; returns the function that stops listening */
  subscribe(topic: string, listener: Listener): () => void
  stop(): void
}

export function topicsOf (tenant: string): string[] {
  return (INSTRUMENTS[tenant] as readonly string[]).map((instrument) => `prices.${tenant}.${instrument}`)
}

export function startPrices ({ intervalMs, random = Math.random }: { intervalMs: number, random?: () => number }): Prices {
  const latest = new Map<string, Tick>()
  const listeners = new Map<string, Set<Listener>>()
  for (const tenant of Object.keys(INSTRUMENTS)) {
    for (const topic of topicsOf(tenant)) {
      latest.set(topic, { type: 'price', topic, price: 100 + Math.round(random() * 5000) / 100, change: 0, at: Date.now() })
      listeners.set(topic, new Set())
    }
  }
  const tick = (): void => {
    for (const [topic, previous] of latest) {
      // A step of at most ±1 %, rounded to cents, never below 1.
      const price = Math.max(1, Math.round(previous.price * (1 + (random() - 0.5) / 50) * 100) / 100)
      const next: Tick = { type: 'price', topic, price, change: Math.round((price - previous.price) * 100) / 100, at: Date.now() }
      latest.set(topic, next)
      for (const listener of listeners.get(topic) as Set<Listener>) listener(next)
    }
  }
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  return {
    topics: [...latest.keys()],
    latest: (topic) => latest.get(topic),
    subscribe (topic, listener) {
      const set = listeners.get(topic)
      if (set === undefined) return () => {}
      set.add(listener)
      return () => { set.delete(listener) }
    },
    stop: () => { clearInterval(timer) }
  }
}
