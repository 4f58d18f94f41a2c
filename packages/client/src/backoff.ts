/** Full-jitter exponential backoff: uniform in [0, min(maxMs, baseMs × 2^failures)]. */
export function backoffDelay (failures: number, baseMs: number, maxMs: number, random: () => number): number {
  return random() * Math.min(maxMs, baseMs * 2 ** failures)
}

/**
 * The delay a 4429 close asks for, in ms: its reason's `retry-after` in seconds (as the HTTP
 * header gives it; `retry-after=30`, `Retry-After: 30`, `retry after 30 s`), else `undefined`.
 */
export function hintedDelayMs (reason: string): number | undefined {
  const hint = /retry[ _-]?after\D{0,3}(\d{1,6})\b/i.exec(reason)
  return hint === null ? undefined : Number(hint[1]) * 1_000
}
