/**
 * Verified tokens of one key, most recently used last. Keyed by the token text itself
 * (a Map hashes strings for free), so a hit costs no digest; bounded by `max` entries and
 * by `ttlMs`. It lives with its key: a key dropped from the issuer's set drops its cache.
 * Expiry and not-before are checked by the caller on every attempt, hit or miss.
 */
export class TokenCache<V> {
  readonly #entries = new Map<string, { value: V, until: number }>()
  readonly #max: number
  readonly #ttlMs: number

  constructor (max: number, ttlMs: number) {
    this.#max = max
    this.#ttlMs = ttlMs
  }

  get (token: string, now: number): V | undefined {
    const entry = this.#entries.get(token)
    if (entry === undefined) return undefined
    this.#entries.delete(token)
    if (entry.until <= now) return undefined
    this.#entries.set(token, entry)
    return entry.value
  }

  set (token: string, value: V, now: number): void {
    if (this.#max === 0) return
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(token, { value, until: now + this.#ttlMs })
  }

  get size (): number {
    return this.#entries.size
  }
}
