import type { Clock } from '@wsguard/core'

/**
 * How many things each key holds at once, each until it expires: a per-principal share of a
 * store every principal draws on, so one in a loop cannot fill it for everyone. Bounded: at most
 * `maxKeys` keys, expired entries swept when it is full; then, with `evictLightest`, the key
 * holding the fewest is forgotten to make room (one that holds many, the one the quota is
 * there to stop, is the last to go), else a new key is refused (`'full'`).
 */
export class ExpiringQuota {
  /** per key, the expiry of each thing it holds, in the order taken */
  readonly #held = new Map<string, number[]>()
  readonly #max: number
  readonly #maxKeys: number
  readonly #clock: Clock
  readonly #evictLightest: boolean

  constructor (maxPerKey: number, maxKeys: number, clock: Clock, evictLightest = false) {
    this.#max = maxPerKey
    this.#maxKeys = maxKeys
    this.#clock = clock
    this.#evictLightest = evictLightest
  }

  /**
   * Counts one thing for `key` expiring at `expiresAt`: `'ok'`; `'full'` when the quota tracks
   * `maxKeys` keys already and none has expired; else the ms until the key's oldest expires (it
   * holds `maxPerKey` already), nothing counted.
   */
  take (key: string, expiresAt: number): 'ok' | 'full' | number {
    const now = this.#clock.now()
    let held = this.#held.get(key)
    if (held !== undefined) {
      held = held.filter((at) => at > now)
      if (held.length >= this.#max) {
        this.#held.set(key, held)
        return Math.min(...held) - now
      }
    } else if (this.#held.size >= this.#maxKeys) {
      this.#sweep(now)
      if (this.#held.size >= this.#maxKeys) {
        if (!this.#evictLightest) return 'full'
        this.#held.delete(this.#lightest(now))
      }
    }
    this.#held.set(key, [...(held ?? []), expiresAt])
    return 'ok'
  }

  /** One thing of `key` expiring at `expiresAt` is no longer held: it no longer counts. */
  release (key: string, expiresAt: number): void {
    const held = this.#held.get(key)
    if (held === undefined) return
    // That entry; else (a store that shortened its expiry) the oldest: one fewer either way.
    const i = held.indexOf(expiresAt)
    held.splice(i === -1 ? 0 : i, 1)
    if (held.length === 0) this.#held.delete(key)
  }

  /** keys tracked */
  get size (): number { return this.#held.size }

  /**
   * The key holding the fewest unexpired entries (the first of those, the longest tracked). After
   * a sweep every key holds one at least: the first holding one is taken without reading on.
   */
  #lightest (now: number): string {
    let lightest = ''
    let fewest = Infinity
    for (const [key, held] of this.#held) {
      let live = 0
      for (const at of held) if (at > now) live++
      if (live <= 1) return key
      if (live < fewest) {
        lightest = key
        fewest = live
      }
    }
    return lightest
  }

  #sweep (now: number): void {
    for (const [key, held] of this.#held) {
      if (held.every((at) => at <= now)) this.#held.delete(key)
    }
  }
}
