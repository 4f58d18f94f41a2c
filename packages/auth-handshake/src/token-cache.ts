import { sha256 } from './digest.js'

/**
 * Verified tokens of one key, most recently used last. Keyed by the SHA-256 digest of the
 * token text, not the text: the cache holds no credential (a heap dump of the process shows
 * none of the last `max` tokens), and an entry costs 43 bytes of key, not the token's
 * hundreds. The text would be kept alive minutes after its connection or refresh is done;
 * under in-band refreshes (a fresh token each, hundreds a second) those strings were what
 * the young generation copied most and then promoted, to die in the old one. A digest costs
 * about 1 µs, against the signature's 50 or more. Bounded by `max` entries and by `ttlMs`.
 * It lives with its key: a key dropped from the issuer's set drops its cache. Expiry and
 * not-before are checked by the caller on every attempt, hit or miss.
 */
export class TokenCache<V> {
  readonly #entries = new Map<string, { value: V, until: number }>()
  readonly #max: number
  readonly #ttlMs: number

  constructor (max: number, ttlMs: number) {
    this.#max = max
    this.#ttlMs = ttlMs
  }

  /**
   * The key `token` is cached under, for `get` and `set`; `undefined` when the cache is off.
   * Only text that passed decodeToken's compact-JWS pattern (ASCII) reaches it, so its UTF-8
   * bytes are its own: two strings share a key only by a SHA-256 collision. (Lone surrogates
   * would not be: UTF-8 writes each as U+FFFD.)
   */
  keyOf (token: string): string | undefined {
    return this.#max === 0 ? undefined : sha256(token)
  }

  get (key: string | undefined, now: number): V | undefined {
    if (key === undefined) return undefined
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    this.#entries.delete(key)
    if (entry.until <= now) return undefined
    this.#entries.set(key, entry)
    return entry.value
  }

  set (key: string | undefined, value: V, now: number): void {
    if (key === undefined) return
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(key, { value, until: now + this.#ttlMs })
  }

  get size (): number {
    return this.#entries.size
  }
}
