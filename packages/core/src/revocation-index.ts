import type { Principal } from './principal.js'
import type { Revocation, SessionFilter } from './sessions.js'

/** ms since epoch the token was issued; a token without `iat` counts as issued long ago. */
function issuedAt (principal: Principal): number {
  const iat = principal.claims.iat
  return typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : Number.NEGATIVE_INFINITY
}

/** Whether one of a key's records refuses a token issued at `iat`, at `now`. */
function refuses (records: Revocation[] | undefined, now: number, iat: number, issuer: string | undefined): boolean {
  if (records === undefined) return false
  for (const r of records) {
    if (r.until < now || iat > r.at) continue
    // A record's issuer (beside a subject or session; an issuer record's own key) must be the token's.
    const f = r.filter as { issuer?: string }
    if (f.issuer !== undefined && f.issuer !== issuer) continue
    return true
  }
  return false
}

const FIRST_SWEEP = 64

/**
 * Revocation records kept by the value they select on (token id, session id, subject,
 * issuer), so a check is four map lookups however many are kept: the rules every
 * `RevocationStore` of wsguard answers by (session-expiry's in-memory store, the Redis
 * store's local mirror). A revoked token id is refused until the record's `until`; a revoked
 * subject, session or issuer refuses tokens issued (`iat`) at or before the revocation, until
 * its `until`. Records past their `until` never count, and are dropped whenever the number
 * kept has doubled since the last sweep (each sweep costs what the additions since the last did).
 */
export class RevocationIndex {
  readonly #byToken = new Map<string, Revocation[]>()
  readonly #bySession = new Map<string, Revocation[]>()
  readonly #bySubject = new Map<string, Revocation[]>()
  readonly #byIssuer = new Map<string, Revocation[]>()
  #size = 0
  #sweepAt = FIRST_SWEEP

  /** Keeps a record; `now` decides which kept records a sweep may drop. */
  add (revocation: Revocation, now: number): void {
    if (this.#size >= this.#sweepAt) {
      this.#sweep(now)
      this.#sweepAt = Math.max(FIRST_SWEEP, 2 * this.#size)
    }
    const [index, key] = this.#indexOf(revocation.filter)
    const records = index.get(key)
    if (records === undefined) index.set(key, [revocation])
    else records.push(revocation)
    this.#size++
  }

  isRevoked (principal: Principal, now: number): boolean {
    // A token id is refused whenever it was issued; the others only for tokens issued before.
    if (principal.tokenId !== undefined && refuses(this.#byToken.get(principal.tokenId), now, Number.NEGATIVE_INFINITY, principal.issuer)) return true
    const iat = issuedAt(principal)
    return refuses(this.#bySession.get(principal.sessionId), now, iat, principal.issuer) ||
      refuses(this.#bySubject.get(principal.id), now, iat, principal.issuer) ||
      (principal.issuer !== undefined && refuses(this.#byIssuer.get(principal.issuer), now, iat, principal.issuer))
  }

  /** records kept, those past their `until` included until the next sweep */
  get size (): number { return this.#size }

  /** Drops the records past their `until` at `now` now, rather than when the count has doubled. */
  sweep (now: number): void {
    this.#sweep(now)
    this.#sweepAt = Math.max(FIRST_SWEEP, 2 * this.#size)
  }

  #indexOf (f: SessionFilter): [Map<string, Revocation[]>, string] {
    if ('tokenId' in f) return [this.#byToken, f.tokenId]
    if ('sessionId' in f) return [this.#bySession, f.sessionId]
    if ('subject' in f) return [this.#bySubject, f.subject]
    return [this.#byIssuer, f.issuer]
  }

  #sweep (now: number): void {
    this.#size = 0
    for (const index of [this.#byToken, this.#bySession, this.#bySubject, this.#byIssuer]) {
      for (const [key, records] of index) {
        const kept = records.filter((r) => r.until >= now)
        if (kept.length === 0) index.delete(key)
        else index.set(key, kept)
        this.#size += kept.length
      }
    }
  }
}
