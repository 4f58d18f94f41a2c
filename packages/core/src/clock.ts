/** Source of time for every wsguard decision; tests inject a fake one. */
export interface Clock {
  /** ms since epoch */
  now(): number
}

export const systemClock: Clock = Object.freeze({ now: () => Date.now() })

export function isClock (value: unknown): value is Clock {
  return typeof value === 'object' && value !== null && typeof (value as Clock).now === 'function'
}

/** What a timer clock's `setTimer` returns; only ever passed back to `clearTimer`. */
export type TimerHandle = unknown

/**
 * A clock that can also wake its owner up: session-expiry's scheduler arms one timer on
 * it. Tests inject a fake that fires timers as its time is moved forward.
 */
export interface TimerClock extends Clock {
  /** calls `fn` once, `delayMs` from now; the timer must not keep the process alive */
  setTimer(fn: () => void, delayMs: number): TimerHandle
  clearTimer(handle: TimerHandle): void
}

export const systemTimerClock: TimerClock = Object.freeze({
  now: () => Date.now(),
  setTimer: (fn: () => void, delayMs: number): TimerHandle => setTimeout(fn, delayMs).unref(),
  clearTimer: (handle: TimerHandle): void => { clearTimeout(handle as NodeJS.Timeout) }
})

export function isTimerClock (value: unknown): value is TimerClock {
  return isClock(value) && typeof (value as TimerClock).setTimer === 'function' && typeof (value as TimerClock).clearTimer === 'function'
}
