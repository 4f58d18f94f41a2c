import type { WindowCounts } from '@wsguard/core'

/** Default bound on the keys (IPs, principals) a window tracks at once. */
export const DEFAULT_MAX_TRACKED_KEYS = 10_000

interface Slot {
  /** start of the current fixed window, ms */
  start: number
  current: number
  previous: number
  /** the window in which this key was last reported, so a storm is reported once per window */
  reportedIn: number
  /** touched since eviction last passed it (its second chance) */
  used: boolean
}

/**
 * Events per key over a sliding window, estimated from the current and the previous fixed
 * window (the previous one weighted by how much of it still overlaps). Memory is bounded:
 * past `maxKeys`, a key not touched lately is forgotten, so 100,000 distinct IPs cost what
 * `maxKeys` do. Which one is chosen by "second chance" (the CLOCK approximation of least
 * recently used): a touch only marks the key; eviction walks from the oldest insertion,
 * sends marked keys to the back unmarked and drops the first unmarked one. A touch is then
 * a lookup and a flag, not the delete and re-insert an exact LRU order costs on every
 * handshake.
 */
export class SlidingWindow {
  readonly #windowMs: number
  readonly #maxKeys: number
  readonly #slots = new Map<string, Slot>()

  constructor (windowMs: number, maxKeys: number) {
    this.#windowMs = windowMs
    this.#maxKeys = maxKeys
  }

  get size (): number { return this.#slots.size }

  /** Counts one event for `key` at `now`; returns the estimate including it (building no counts object). */
  hit (key: string, now: number): number {
    const slot = this.#touch(key, now)
    slot.current++
    return this.#estimate(slot, now)
  }

  /** Counts `amount` events for `key` at `now` (0: none, to read); returns its two windows' counts. */
  add (key: string, now: number, amount = 1): WindowCounts {
    const slot = this.#touch(key, now)
    slot.current += amount
    return { current: slot.current, previous: slot.previous, start: slot.start, elapsedMs: now - slot.start }
  }

  /** The estimate for `key` at `now`, without counting. */
  count (key: string, now: number): number {
    const slot = this.#slots.get(key)
    if (slot === undefined) return 0
    this.#roll(slot, now)
    return this.#estimate(slot, now)
  }

  /** core's `slidingEstimate` of a slot rolled to `now`, read from the slot itself (no counts object). */
  #estimate (slot: Slot, now: number): number {
    return slot.current + slot.previous * Math.min(1, Math.max(0, 1 - (now - slot.start) / this.#windowMs))
  }

  /** Whether this is the first report for `key` in its current window (and marks it reported). */
  firstReport (key: string, now: number): boolean {
    const slot = this.#touch(key, now)
    if (slot.reportedIn === slot.start) return false
    slot.reportedIn = slot.start
    return true
  }

  #touch (key: string, now: number): Slot {
    let slot = this.#slots.get(key)
    if (slot !== undefined) {
      slot.used = true
      this.#roll(slot, now)
      return slot
    }
    if (this.#slots.size >= this.#maxKeys) this.#evict()
    slot = { start: now - (now % this.#windowMs), current: 0, previous: 0, reportedIn: -1, used: false }
    this.#slots.set(key, slot)
    return slot
  }

  /** Drops one key: the oldest not touched since eviction last passed it. */
  #evict (): void {
    // Ends within one pass: every key it sends back has lost its mark.
    for (;;) {
      const [key, slot] = this.#slots.entries().next().value as [string, Slot]
      this.#slots.delete(key)
      if (!slot.used) return
      slot.used = false
      this.#slots.set(key, slot)
    }
  }

  #roll (slot: Slot, now: number): void {
    const start = now - (now % this.#windowMs)
    if (start === slot.start) return
    slot.previous = start - slot.start === this.#windowMs ? slot.current : 0
    slot.current = 0
    slot.start = start
  }
}
