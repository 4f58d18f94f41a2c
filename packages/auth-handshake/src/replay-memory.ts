import { invalidOption, isClock, systemClock, type Clock, type ReplayStore } from '@wsguard/core'

export const DEFAULT_REPLAY_MAX_ENTRIES = 10_000

export interface MemoryReplayStoreOptions {
  /** ids remembered at most; a new id past this (none expired) is refused, not let through. Default 10_000 */
  maxEntries?: number
  /** time source deciding which ids have expired. Default `Date.now` */
  clock?: Clock
}

/**
 * The default replay store: ids used in this process, each until its `until`. Bounded: when
 * `maxEntries` live ids are held, a claim of a new id throws (the caller answers 503) rather
 * than forget an id that may still be replayed. Expired ids are dropped when the store is
 * full, and only then, and only once one can have expired. It is one process's memory:
 * instances that share nothing each accept a token once (use `@wsguard/redis`'s store).
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #until = new Map<string, number>()
  readonly #max: number
  readonly #clock: Clock
  /** no id expires before this: a full store is swept only once something can have expired */
  #earliest = Number.POSITIVE_INFINITY

  constructor (opts: MemoryReplayStoreOptions = {}) {
    const { maxEntries = DEFAULT_REPLAY_MAX_ENTRIES, clock = systemClock } = opts
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw invalidOption('MemoryReplayStore: opts.maxEntries must be an integer, 1 or more')
    if (!isClock(clock)) throw invalidOption('MemoryReplayStore: opts.clock must be an object with a now() method')
    this.#max = maxEntries
    this.#clock = clock
  }

  claim (id: string, until: number): boolean {
    const now = this.#clock.now()
    const kept = this.#until.get(id)
    if (kept !== undefined && kept >= now) return false
    if (kept === undefined && this.#until.size >= this.#max) {
      if (now > this.#earliest) this.#sweep(now)
      if (this.#until.size >= this.#max) throw new Error(`MemoryReplayStore: ${this.#max} ids in force (maxEntries); refusing rather than forgetting one`)
    }
    this.#until.set(id, until)
    if (until < this.#earliest) this.#earliest = until
    return true
  }

  release (id: string): void {
    this.#until.delete(id)
  }

  /** ids held, expired ones included until the next sweep */
  get size (): number { return this.#until.size }

  #sweep (now: number): void {
    let earliest = Number.POSITIVE_INFINITY
    for (const [id, until] of this.#until) {
      if (until < now) this.#until.delete(id)
      else if (until < earliest) earliest = until
    }
    this.#earliest = earliest
  }
}
