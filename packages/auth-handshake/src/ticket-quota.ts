import { principalKey, type Clock, type Principal } from '@wsguard/core'
import { ExpiringQuota } from './quota.js'

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
  readonly #quota: ExpiringQuota

  constructor (maxPerPrincipal: number, clock: Clock) {
    this.#quota = new ExpiringQuota(maxPerPrincipal, MAX_QUOTA_PRINCIPALS, clock)
  }

  /**
   * Counts a ticket for `principal` expiring at `expiresAt`: `'ok'`; `'full'` when the quota
   * tracks too many principals to take a new one; else the ms until the principal's oldest
   * ticket expires (it holds `maxPerPrincipal` already), nothing counted.
   */
  take (principal: Principal, expiresAt: number): 'ok' | 'full' | number {
    return this.#quota.take(principalKey(principal.id, principal.issuer), expiresAt)
  }

  /** A ticket of `principal` expiring at `expiresAt` was redeemed here: it no longer counts. */
  release (principal: Principal, expiresAt: number): void {
    this.#quota.release(principalKey(principal.id, principal.issuer), expiresAt)
  }

  /** principals tracked */
  get size (): number { return this.#quota.size }
}
