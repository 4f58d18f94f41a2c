import type { WindowCounter, WindowCounts } from '@wsguard/core'
import { DEFAULT_EWMA_ALPHA as EWMA_ALPHA } from './options.js'
import { SlidingWindow } from './window.js'
import type { StoreAnswer, StoreContext } from './store.js'

export const MINUTE_MS = 60_000
/** The failure spike's key in a shared counter store. */
export const SPIKE_KEY = 'failures'

const ewma = (baseline: number | undefined, minute: number): number =>
  baseline === undefined ? minute : EWMA_ALPHA * minute + (1 - EWMA_ALPHA) * baseline

/**
 * Rejections per minute window against an exponentially weighted baseline of past minutes,
 * from the counts of a minute window (this process's, or a shared store's, which count every
 * instance's rejections). `observe` answers the limit when the minute has reached it.
 */
export class SpikeDetector {
  readonly #ratio: number
  readonly #minPerMinute: number
  /** the minute (window start / 60 s) the last counts were of */
  #minute = -1
  /** the highest count seen in that minute */
  #last = 0
  #baseline: number | undefined

  constructor (ratio: number, minPerMinute: number) {
    this.#ratio = ratio
    this.#minPerMinute = minPerMinute
  }

  observe (counts: WindowCounts): number | undefined {
    const minute = counts.start / MINUTE_MS
    // A late answer about a minute already left: its count is in the baseline or lost.
    if (minute < this.#minute) return undefined
    if (minute > this.#minute) {
      if (this.#minute >= 0) {
        // The minute just left is complete in `previous` (a shared store counts every
        // instance's); minutes with no rejection at all pull the baseline down too.
        this.#baseline = ewma(this.#baseline, minute - this.#minute === 1 ? Math.max(counts.previous, this.#last) : this.#last)
        for (let gap = this.#minute + 1; gap < minute; gap++) this.#baseline = ewma(this.#baseline, gap === minute - 1 ? counts.previous : 0)
      }
      this.#minute = minute
      this.#last = 0
    }
    this.#last = Math.max(this.#last, counts.current)
    const limit = Math.max(this.#minPerMinute, this.#ratio * Math.max(this.#baseline ?? 0, 1))
    return counts.current >= limit ? limit : undefined
  }
}

/** What a spike raises. */
export interface Spike { count: number, limit: number, reasons: Record<string, number>, route: string }

/**
 * The failure-spike detector: counts every rejection in this process's minute window and,
 * with a store, in the store's (at most one command in flight: rejections arriving meanwhile
 * go in the next, so a flood of rejections is not a flood of commands). With a store the
 * shared counts decide; while the store fails, this process's. One spike is raised per
 * minute; its `reasons` are this process's rejections of the minute, per code.
 */
export class FailureSpikes {
  readonly #store: WindowCounter | undefined
  readonly #context: StoreContext
  readonly #raise: (spike: Spike) => void
  readonly #local: SpikeDetector
  readonly #shared: SpikeDetector
  readonly #window = new SlidingWindow(MINUTE_MS, 1)
  #reasons: Record<string, number> = {}
  #reasonsMinute = -1
  #raisedMinute = -1
  #pending = 0
  #pendingRoute = ''
  #inFlight = false
  #storeFailing = false
  #stopped = false

  constructor (spike: { ratio: number, minPerMinute: number, store: WindowCounter | undefined }, context: StoreContext, raise: (spike: Spike) => void) {
    this.#store = spike.store
    this.#context = context
    this.#raise = raise
    this.#local = new SpikeDetector(spike.ratio, spike.minPerMinute)
    this.#shared = new SpikeDetector(spike.ratio, spike.minPerMinute)
  }

  count (code: string, route: string): void {
    const now = this.#context.clock.now()
    const minute = Math.floor(now / MINUTE_MS)
    if (minute !== this.#reasonsMinute) {
      this.#reasons = {}
      this.#reasonsMinute = minute
    }
    this.#reasons[code] = (this.#reasons[code] ?? 0) + 1
    const local = this.#window.add(SPIKE_KEY, now)
    const limit = this.#local.observe(local)
    if (this.#store === undefined || this.#storeFailing) this.#check(local, limit, route)
    if (this.#store === undefined) return
    this.#pending++
    this.#pendingRoute = route
    if (!this.#inFlight) this.#flush(this.#store)
  }

  /** No spike is raised after this (the app is closing; a store answer may still arrive). */
  stop (): void { this.#stopped = true }

  #flush (store: WindowCounter): void {
    const amount = this.#pending
    const route = this.#pendingRoute
    this.#pending = 0
    this.#inFlight = true
    const answer = this.#context.ask(store, SPIKE_KEY, MINUTE_MS, amount)
    if (answer instanceof Promise) answer.then((a) => { this.#settle(store, route, a) }).catch(this.#context.lateError)
    else this.#settle(store, route, answer)
  }

  #settle (store: WindowCounter, route: string, answer: StoreAnswer): void {
    this.#inFlight = false
    if (answer !== undefined && !(answer instanceof Error)) {
      this.#storeFailing = false
      this.#context.answered(store)
      this.#check(answer, this.#shared.observe(answer), route)
    } else {
      this.#storeFailing = true
      this.#context.failed(store, 'failure-spike', 'local', answer)
      const local = this.#window.add(SPIKE_KEY, this.#context.clock.now(), 0)
      this.#check(local, this.#local.observe(local), route)
    }
    if (this.#pending > 0) this.#flush(store)
  }

  #check (counts: WindowCounts, limit: number | undefined, route: string): void {
    if (limit === undefined || this.#stopped) return
    const minute = Math.floor(this.#context.clock.now() / MINUTE_MS)
    if (minute === this.#raisedMinute) return
    this.#raisedMinute = minute
    this.#raise({ count: counts.current, limit: Math.ceil(limit), reasons: { ...this.#reasons }, route })
  }
}
