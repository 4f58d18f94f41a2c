import type { Clock } from '@wsguard/core'

/** How long one turn may spend on queued refresh checks (by the clock) before it yields. */
export const REFRESH_SLICE_MS = 2

/**
 * In-band refreshes wait here for their checks (a signature each) and run in turns on the
 * event loop's check phase (setImmediate), after its I/O: each turn runs at least one and
 * stops once REFRESH_SLICE_MS have passed. Refreshes are taken off the socket as they
 * arrive, so a burst of them (tokens expiring together, every client back after an outage)
 * costs the loop 2 ms at a time, and handshakes, frames and deadlines are served in between.
 * First in, first out: a socket's refreshes are checked in the order they were sent.
 */
export class RefreshQueue {
  readonly #clock: Clock
  readonly #onError: (err: unknown) => void
  // Jobs being run (from #at on), and those added meanwhile; swapped when the first runs dry,
  // so neither array is shifted or grows past the longest backlog.
  #running: Array<(() => void) | undefined> = []
  #at = 0
  #waiting: Array<() => void> = []
  #scheduled = false

  constructor (clock: Clock, onError: (err: unknown) => void) {
    this.#clock = clock
    this.#onError = onError
  }

  /** Jobs not yet run. */
  get size (): number { return this.#running.length - this.#at + this.#waiting.length }

  /** Runs `job` on a later turn. A job handles its own failures; one that throws is reported to `onError`, and the queue goes on. */
  add (job: () => void): void {
    this.#waiting.push(job)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#turn)
    }
  }

  // #scheduled stays true while a turn runs: a job that adds one must not start a second turn.
  // Whatever throws (a job, onError, the clock), the next turn is still set up or the flag
  // cleared, so the queue never stops with jobs in it.
  readonly #turn = (): void => {
    try {
      const started = this.#clock.now()
      for (;;) {
        if (this.#at === this.#running.length) {
          if (this.#waiting.length === 0) break
          const drained = this.#running
          drained.length = 0
          this.#running = this.#waiting
          this.#waiting = drained as Array<() => void>
          this.#at = 0
        }
        const job = this.#running[this.#at] as () => void
        this.#running[this.#at++] = undefined
        this.#run(job)
        if (this.#clock.now() - started >= REFRESH_SLICE_MS) break
      }
    } finally {
      if (this.size > 0) setImmediate(this.#turn)
      else this.#scheduled = false
    }
  }

  #run (job: () => void): void {
    try {
      job()
    } catch (err) {
      try {
        this.#onError(err)
      } catch {}
    }
  }
}

const queues = new WeakMap<Clock, RefreshQueue>()

/** The one refresh queue of a clock: every plugin instance on the same clock (and event loop) shares it. */
export function refreshQueueFor (clock: Clock, onError: (err: unknown) => void): RefreshQueue {
  let q = queues.get(clock)
  if (q === undefined) queues.set(clock, q = new RefreshQueue(clock, onError))
  return q
}
