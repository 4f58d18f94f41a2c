import { principalKey, type Clock, type Principal } from '@wsguard/core'

/** Principals whose unused tickets the quota tracks at once, at most (each holds at most `maxPerPrincipal`). */
export const MAX_QUOTA_PRINCIPALS = 10_000

/**
 * How many tickets each principal holds unused on this instance: issued here, neither redeemed
 * here nor expired. One principal asking in a loop would otherwise fill the ticket store (the
 * memory store's 10,000 places, or a Redis store's memory) and so refuse everyone's tickets.
 * Bounded: at most `MAX_QUOTA_PRINCIPALS` principals, expired entries swept when it is full.
 * A ticket redeemed on another instance (a shared store) is counted here until it expires.
 */
export class TicketQuota {
  /** per principal, the expiry of each ticket it holds unused, in issue order */
  readonly #held = new Map<string, number[]>()
  readonly #max: number
  readonly #clock: Clock

  constructor (maxPerPrincipal: number, clock: Clock) {
    this.#max = maxPerPrincipal
    this.#clock = clock
  }

  /**
   * Counts a ticket for `principal` expiring at `expiresAt`: `'ok'`; `'full'` when the quota
   * tracks too many principals to take a new one; else the ms until the principal's oldest
   * ticket expires (it holds `maxPerPrincipal` already), nothing counted.
   */
  take (principal: Principal, expiresAt: number): 'ok' | 'full' | number {
    const now = this.#clock.now()
    const key = principalKey(principal.id, principal.issuer)
    let held = this.#held.get(key)
    if (held !== undefined) {
      held = held.filter((at) => at > now)
      if (held.length >= this.#max) {
        this.#held.set(key, held)
        return Math.min(...held) - now
      }
    } else if (this.#held.size >= MAX_QUOTA_PRINCIPALS) {
      this.#sweep(now)
      if (this.#held.size >= MAX_QUOTA_PRINCIPALS) return 'full'
    }
    this.#held.set(key, [...(held ?? []), expiresAt])
    return 'ok'
  }

  /** A ticket of `principal` expiring at `expiresAt` was redeemed here: it no longer counts. */
  release (principal: Principal, expiresAt: number): void {
    const key = principalKey(principal.id, principal.issuer)
    const held = this.#held.get(key)
    if (held === undefined) return
    // That ticket's entry; else (a store that shortened its expiry) the oldest: one fewer either way.
    const i = held.indexOf(expiresAt)
    held.splice(i === -1 ? 0 : i, 1)
    if (held.length === 0) this.#held.delete(key)
  }

  /** principals tracked */
  get size (): number { return this.#held.size }

  #sweep (now: number): void {
    for (const [key, held] of this.#held) {
      if (held.every((at) => at <= now)) this.#held.delete(key)
    }
  }
}
