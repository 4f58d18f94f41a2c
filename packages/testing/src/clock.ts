import type { TimerClock, TimerHandle } from '@wsguard/core'

interface FakeTimer { at: number, seq: number, fn: () => void }

/**
 * A clock the test moves by hand. It is also a `TimerClock`: timers fire, in order of
 * their due time, while `advance()` or `set()` moves time past them, each seeing `now()`
 * at its own due time.
 */
export class FakeClock implements TimerClock {
  #now: number
  #seq = 0
  readonly #timers = new Set<FakeTimer>()

  constructor (now: number = Date.now()) {
    this.#now = now
  }

  now (): number {
    return this.#now
  }

  /** timers armed and not yet fired or cleared */
  get pendingTimers (): number {
    return this.#timers.size
  }

  setTimer (fn: () => void, delayMs: number): TimerHandle {
    const timer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn }
    this.#timers.add(timer)
    return timer
  }

  clearTimer (handle: TimerHandle): void {
    this.#timers.delete(handle as FakeTimer)
  }

  advance (ms: number): void {
    this.set(this.#now + ms)
  }

  set (ms: number): void {
    for (;;) {
      let next: FakeTimer | undefined
      for (const t of this.#timers) {
        if (t.at <= ms && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t
      }
      if (next === undefined) break
      this.#timers.delete(next)
      this.#now = Math.max(this.#now, next.at)
      next.fn()
    }
    this.#now = ms
  }
}
