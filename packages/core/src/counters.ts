/**
 * What a counter holds for one key after counting: the events of the current fixed window
 * and of the one before it. Windows start at multiples of `windowMs` since the epoch, on the
 * store's clock, so every instance sharing a store counts into the same windows.
 */
export interface WindowCounts {
  /** events in the current window, those just counted included */
  readonly current: number
  /** events in the window before it (0 when it saw none) */
  readonly previous: number
  /** when the current window started, ms since epoch on the store's clock (a multiple of `windowMs`) */
  readonly start: number
  /** ms since `start` on the store's clock: 0 ≤ elapsedMs < windowMs */
  readonly elapsedMs: number
}

/**
 * Counts events per key over fixed windows: what telemetry's reconnect-storm gates and
 * failure-spike detector count with (in process by default; `@wsguard/redis`'s `counters`
 * shares the counts between instances). `hit` counts `amount` events (default 1) for `key`
 * in the window of `windowMs` holding `now` (a store with a clock of its own may use that
 * instead) and answers with:
 * - the counts: the caller decides on them;
 * - `undefined`: the store cannot answer now and lets the caller decide from what it counted
 *   itself (fail-open);
 * - a throw or a rejection: the store cannot answer; a gate that refuses storms refuses the
 *   handshake (503, fail-closed).
 * A store that keeps counts must forget a key's windows once they are over (bounded memory).
 */
export interface WindowCounter {
  hit(key: string, windowMs: number, now: number, amount?: number): WindowCounts | undefined | Promise<WindowCounts | undefined>
}

/**
 * Events over the sliding window of `windowMs` ending now, estimated from two fixed windows:
 * the current one, plus the previous one weighted by how much of it the sliding window still
 * covers (between none and all of it, whatever `elapsedMs` a store answered).
 */
export function slidingEstimate (counts: WindowCounts, windowMs: number): number {
  const covered = Math.min(1, Math.max(0, 1 - counts.elapsedMs / windowMs))
  return counts.current + counts.previous * covered
}

export function isWindowCounter (value: unknown): value is WindowCounter {
  return typeof value === 'object' && value !== null && typeof (value as WindowCounter).hit === 'function'
}
