// Handshake latency of well-behaved clients, with and without an abusive load, measured in
// interleaved runs so that a machine shared with other work slows both sides alike.
import { performance } from 'node:perf_hooks'
import { openSocket } from '@wsguard/testing'
import { ALLOWED_ORIGIN } from './carriers.js'

/** The nearest-rank percentile `p` (0-100) of `values`. */
export function percentile (values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

export function median (values: readonly number[]): number {
  return percentile(values, 50)
}

/** Milliseconds each of `count` handshakes took, one after the other, from the first byte sent to open. */
export async function handshakeTimes (url: string, token: string, count: number): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    const client = await openSocket(url, { token, client: { origin: ALLOWED_ORIGIN } })
    times.push(performance.now() - started)
    client.ws.terminate()
  }
  return times
}

export interface Load {
  start(): Promise<void> | void
  /** ends the load; checks its outcome */
  stop(): Promise<void> | void
}

export interface Comparison {
  /** the p99 of each unloaded run, ms */
  unloaded: number[]
  /** the p99 of each run under load, ms */
  loaded: number[]
}

/** `runs` pairs of runs (unloaded, then under `load`) of `measure`, each summed up as its p99. */
export async function compareUnderLoad (runs: number, measure: () => Promise<number[]>, load: Load): Promise<Comparison> {
  const unloaded: number[] = []
  const loaded: number[] = []
  for (let i = 0; i < runs; i++) {
    unloaded.push(percentile(await measure(), 99))
    await load.start()
    loaded.push(percentile(await measure(), 99))
    await load.stop()
  }
  return { unloaded, loaded }
}

/** How much slower the loaded p99 may be than the unloaded one (medians of the runs). */
export const RATIO = 2
/**
 * Below this difference, ms, the loaded p99 passes whatever the ratio: when both sides are
 * about 1 ms, one scheduling hiccup or GC pause of this 2-core VM doubles a p99, and the ratio
 * measures the machine, not the load.
 */
export const SLACK_MS = 2

export function withinRatio (c: Comparison): boolean {
  const loaded = median(c.loaded)
  const unloaded = median(c.unloaded)
  return loaded <= RATIO * unloaded || loaded - unloaded <= SLACK_MS
}

/**
 * Runs `compare` up to `attempts` times, stopping at the first within RATIO. Other work on a
 * shared machine can spoil one comparison; a slowdown the load causes spoils every attempt.
 */
export async function settle (compare: () => Promise<Comparison>, attempts: number): Promise<Comparison[]> {
  const all: Comparison[] = []
  for (let i = 0; i < attempts; i++) {
    all.push(await compare())
    if (withinRatio(all[i] as Comparison)) break
  }
  return all
}

/** One line with the figures, for the test output. */
export function describe (c: Comparison): string {
  const f = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(', ')
  const ratio = median(c.loaded) / median(c.unloaded)
  return `handshake p99 per run, ms: unloaded ${f(c.unloaded)} (median ${median(c.unloaded).toFixed(1)}); ` +
    `loaded ${f(c.loaded)} (median ${median(c.loaded).toFixed(1)}); ratio ${ratio.toFixed(2)}`
}
