import type { Principal } from '@wsguard/core'
import type { Evaluation } from './policy.js'

/** Default number of decisions one connection remembers. */
export const DEFAULT_DECISION_CACHE_SIZE = 256

/**
 * One connection's recent decisions, keyed by action and topic. Bounded (the oldest
 * entry goes first) and emptied whenever `request.principal` is a different object, which
 * is what an in-band refresh does (principals are frozen and replaced, never mutated).
 * A decision that rests on `maxAuthAgeMs` is kept only until the sign-in is too old.
 */
export class DecisionCache {
  readonly #max: number
  #principal: Principal | null = null
  readonly #byAction = new Map<unknown, Map<string, Evaluation>>()
  readonly #order: Array<Map<string, Evaluation>> = []
  readonly #keys: string[] = []

  constructor (max: number) {
    this.#max = max
  }

  get size (): number { return this.#keys.length }

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
      if (this.#keys.length >= this.#max) {
        // FIFO: drop the oldest entry.
        const oldTopics = this.#order.shift() as Map<string, Evaluation>
        oldTopics.delete(this.#keys.shift() as string)
      }
      this.#order.push(topics)
      this.#keys.push(topic)
    }
    topics.set(topic, evaluation)
  }

  #clear (principal: Principal | null): void {
    this.#principal = principal
    this.#byAction.clear()
    this.#order.length = 0
    this.#keys.length = 0
  }
}
