/** Source of time for every wsguard decision; tests inject a fake one. */
export interface Clock {
  /** ms since epoch */
  now(): number
}

export const systemClock: Clock = Object.freeze({ now: () => Date.now() })

export function isClock (value: unknown): value is Clock {
  return typeof value === 'object' && value !== null && typeof (value as Clock).now === 'function'
}
