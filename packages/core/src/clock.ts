import { invalidOption } from './errors.js'

/** Source of time for every wsguard decision; tests inject a fake one. */
export interface Clock {
  /** ms since epoch */
  now(): number
}

export const systemClock: Clock = Object.freeze({ now: () => Date.now() })

export function isClock (value: unknown): value is Clock {
  return typeof value === 'object' && value !== null && typeof (value as Clock).now === 'function'
}

/**
 * The longest delay a Node timer waits: 2^31 - 1 ms (about 24.8 days). Longer, Node prints a
 * `TimeoutOverflowWarning` and fires after 1 ms, so a timeout option above it would time out
 * at once; plugins refuse such options at registration.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1

/** `value` (an option already checked as a number of ms) when a timer can wait that long; else throws WSG_INVALID_OPTION naming `path`. */
export function timerDelay (value: number, path: string): number {
  if (value > MAX_TIMER_DELAY_MS) throw invalidOption(`${path} must be at most ${MAX_TIMER_DELAY_MS} ms (about 24.8 days, the longest a Node timer waits)`)
  return value
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
