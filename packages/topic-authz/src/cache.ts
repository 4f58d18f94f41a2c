import type { Principal } from '@wsguard/core'
import type { Evaluation } from './policy.js'

/** Default number of decisions one connection remembers. */
export const DEFAULT_DECISION_CACHE_SIZE = 256

/**
 * One connection's recent decisions, keyed by action and topic. Bounded (the oldest
 * entry goes first) and emptied whenever `request.principal` is a different object, which
 * is what an in-band refresh does (principals are frozen and replaced, never mutated).
 * A decision that rests on `maxAuthAgeMs` is kept only until the sign-in is too old.
 *
 * Emptying it allocates little: every refresh empties the cache of a connection that
 * decides in-band, and whatever a refresh replaces lives as long as the token and then dies
 * old, which is the garbage a major GC must collect. So the per-action maps are kept and
 * cleared, and the insertion order is a ring over arrays that keep their room. (V8 gives a
 * cleared Map a new, small table, in the old generation when the Map is there: the right
 * place for what the next decisions put in it, which lives as long as the token.)
 */
export class DecisionCache {
  readonly #max: number
  #principal: Principal | null = null
  // Keyed by action: only configured actions reach the cache, so these maps are few.
  readonly #byAction = new Map<unknown, Map<string, Evaluation>>()
  // The insertion order: entry k (0 = oldest) is #keys[(#head + k) % #keys.length], in map #maps[…].
  // The ring's room grows up to max; #head leaves 0 only once it is full (an eviction).
  readonly #maps: Array<Map<string, Evaluation>> = []
  readonly #keys: string[] = []
  #head = 0
  #count = 0

  constructor (max: number) {
    this.#max = max
  }

  get size (): number { return this.#count }

  get (principal: Principal | null, action: unknown, topic: string, now: () => number): Evaluation | undefined {
    if (principal !== this.#principal) {
      this.#clear(principal)
      return undefined
    }
    const hit = this.#byAction.get(action)?.get(topic)
    if (hit === undefined || (hit.until !== Number.POSITIVE_INFINITY && now() > hit.until)) return undefined
    return hit
  }

  set (principal: Principal | null, action: unknown, topic: string, evaluation: Evaluation): void {
    if (principal !== this.#principal) this.#clear(principal)
    let topics = this.#byAction.get(action)
    if (topics === undefined) this.#byAction.set(action, topics = new Map())
    if (!topics.has(topic)) {
      if (this.#count >= this.#max) {
        // FIFO: drop the oldest entry; its slot takes the new one.
        const oldest = this.#head
        ;(this.#maps[oldest] as Map<string, Evaluation>).delete(this.#keys[oldest] as string)
        this.#maps[oldest] = topics
        this.#keys[oldest] = topic
        this.#head = (oldest + 1) % this.#keys.length
      } else if (this.#count < this.#keys.length) {
        const at = (this.#head + this.#count) % this.#keys.length
        this.#maps[at] = topics
        this.#keys[at] = topic
        this.#count++
      } else {
        this.#maps.push(topics)
        this.#keys.push(topic)
        this.#count++
      }
    }
    topics.set(topic, evaluation)
  }

  #clear (principal: Principal | null): void {
    this.#principal = principal
    if (this.#count === 0) return
    // Every entry's map is in the ring; clearing one twice costs nothing.
    for (let k = 0; k < this.#count; k++) {
      const topics = this.#maps[(this.#head + k) % this.#keys.length] as Map<string, Evaluation>
      if (topics.size > 0) topics.clear()
    }
    this.#head = 0
    this.#count = 0
  }
}
