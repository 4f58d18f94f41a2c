import type { TimerClock, TimerHandle } from '@wsguard/core'

/** Something the scheduler wakes up: it keeps its own place in the heap. */
export interface Scheduled {
  /** when it is due, ms since epoch (the scheduler's to write) */
  dueAt: number
  /** its index in the heap, -1 when not armed (the scheduler's to write) */
  heapIndex: number
  fire(now: number): void
}

// setTimeout cannot wait longer than 2^31 - 1 ms; a later timer is re-armed when it fires early.
const MAX_DELAY_MS = 2 ** 31 - 1
/** How long one timer callback may keep firing due items (by the clock) before it yields. */
export const SLICE_MS = 2
/** Items this late (ms past due) are fired without yielding. */
export const CATCH_UP_MS = 100

/**
 * One binary min-heap of deadlines over a single timer on the clock: arming, moving and
 * cancelling are O(log n), and however many sessions are open there is one pending timer.
 * A timer callback fires due items for at most SLICE_MS, then yields to the event loop, unless
 * they are already CATCH_UP_MS late.
 */
export class Scheduler {
  readonly #clock: TimerClock
  readonly #heap: Scheduled[] = []
  readonly #onError: (err: unknown) => void
  #timer: TimerHandle | undefined
  #timerAt = Number.POSITIVE_INFINITY

  constructor (clock: TimerClock, onError: (err: unknown) => void) {
    this.#clock = clock
    this.#onError = onError
  }

  get size (): number { return this.#heap.length }

  /** Arms `item` at `at`, or moves it there if it is armed. */
  arm (item: Scheduled, at: number): void {
    if (item.heapIndex < 0) {
      item.dueAt = at
      item.heapIndex = this.#heap.length
      this.#heap.push(item)
      this.#up(item.heapIndex)
    } else {
      const earlier = at < item.dueAt
      item.dueAt = at
      if (earlier) this.#up(item.heapIndex)
      else this.#down(item.heapIndex)
    }
    this.#wake()
  }

  cancel (item: Scheduled): void {
    const i = item.heapIndex
    if (i < 0) return
    const last = this.#heap.pop() as Scheduled
    item.heapIndex = -1
    if (last !== item) {
      this.#heap[i] = last
      last.heapIndex = i
      this.#down(i)
      this.#up(last.heapIndex)
    }
    // A timer left for an earlier head just fires, finds nothing due, and re-arms.
    if (this.#heap.length === 0) this.#stop()
  }

  #wake (): void {
    const head = this.#heap[0] as Scheduled
    if (head.dueAt >= this.#timerAt) return
    this.#stop()
    this.#timerAt = head.dueAt
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, head.dueAt - this.#clock.now()))
    this.#timer = this.#clock.setTimer(() => this.#run(), delay)
  }

  #stop (): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
  }

  #run (): void {
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
    const now = this.#clock.now()
    let head = this.#heap[0]
    while (head !== undefined && head.dueAt <= now) {
      this.cancel(head)
      try {
        head.fire(now)
      } catch (err) {
        this.#onError(err)
      }
      head = this.#heap[0]
      // One turn fires for at least one item and at most SLICE_MS; what is still due fires on
      // the next turn, once the event loop has taken its I/O. Tokens expire on whole seconds
      // (exp), so hundreds of sessions fall due in the same millisecond: their notices (a
      // socket write each) made stretches of 10-60 ms in which no handshake was accepted (the
      // soak's CPU profile). Items already CATCH_UP_MS late are not held back: under load the
      // loop's I/O between turns must not push deadlines (closes at expiry + grace) later.
      if (head !== undefined && this.#clock.now() - now >= SLICE_MS && now - head.dueAt < CATCH_UP_MS) break
    }
    if (head !== undefined) this.#wake()
  }

  #up (i: number): void {
    const heap = this.#heap
    const item = heap[i] as Scheduled
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as Scheduled
      if (p.dueAt <= item.dueAt) break
      heap[i] = p
      p.heapIndex = i
      i = parent
    }
    heap[i] = item
    item.heapIndex = i
  }

  #down (i: number): void {
    const heap = this.#heap
    const n = heap.length
    const item = heap[i] as Scheduled
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && (heap[r] as Scheduled).dueAt < (heap[l] as Scheduled).dueAt ? r : l
      const child = heap[c] as Scheduled
      if (child.dueAt >= item.dueAt) break
      heap[i] = child
      child.heapIndex = i
      i = c
    }
    heap[i] = item
    item.heapIndex = i
  }
}

const schedulers = new WeakMap<TimerClock, Scheduler>()

/** The one scheduler of a clock: every plugin instance on the same clock shares it. */
export function schedulerFor (clock: TimerClock, onError: (err: unknown) => void): Scheduler {
  let s = schedulers.get(clock)
  if (s === undefined) schedulers.set(clock, s = new Scheduler(clock, onError))
  return s
}
