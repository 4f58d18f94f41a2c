import type { Principal, Revocation, RevocationStore, SessionFilter, SessionInfo, SessionRegistry } from '@wsguard/core'
import { matches } from './filter.js'

/** The default registry: this process's open sessions. */
export class MemorySessionRegistry implements SessionRegistry {
  readonly #sessions = new Map<string, SessionInfo>()

  add (info: SessionInfo): void { this.#sessions.set(info.id, info) }
  update (info: SessionInfo): void { if (this.#sessions.has(info.id)) this.#sessions.set(info.id, info) }
  remove (id: string): void { this.#sessions.delete(id) }
  list (filter?: SessionFilter): readonly SessionInfo[] {
    const all = [...this.#sessions.values()]
    return filter === undefined ? all : all.filter((s) => matches(filter, s.id, s.principal))
  }
}

/** ms since epoch the token was issued; a token without `iat` counts as issued long ago. */
function issuedAt (principal: Principal): number {
  const iat = principal.claims.iat
  return typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : Number.NEGATIVE_INFINITY
}

/** Whether one of a key's records refuses a token issued at `iat`, at `now`. */
function refuses (records: Revocation[] | undefined, now: number, iat: number, issuer?: string): boolean {
  if (records === undefined) return false
  for (const r of records) {
    if (r.until < now || iat > r.at) continue
    const f = r.filter as { issuer?: string }
    if ('subject' in r.filter && f.issuer !== undefined && f.issuer !== issuer) continue
    return true
  }
  return false
}

const FIRST_SWEEP = 64

/**
 * The default revocation store: in this process, delivered synchronously. A revoked token
 * id is refused until the record's `until`; a revoked subject, session or issuer refuses
 * tokens issued (`iat`) at or before the revocation, until its `until`.
 *
 * Records are kept by the value they select on (token id, session id, subject, issuer), so a
 * check is four map lookups however many revocations are kept: every handshake and refresh
 * asks, and a logout wave can leave thousands. Records past their `until` are never
 * counted, and are dropped whenever the number kept has doubled since the last sweep (each
 * sweep costs what the revocations since the last one did).
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly #byToken = new Map<string, Revocation[]>()
  readonly #bySession = new Map<string, Revocation[]>()
  readonly #bySubject = new Map<string, Revocation[]>()
  readonly #byIssuer = new Map<string, Revocation[]>()
  readonly #listeners = new Set<(r: Revocation) => void>()
  #size = 0
  #sweepAt = FIRST_SWEEP

  async revoke (revocation: Revocation): Promise<void> {
    if (this.#size >= this.#sweepAt) {
      this.#sweep(revocation.at)
      this.#sweepAt = Math.max(FIRST_SWEEP, 2 * this.#size)
    }
    const [index, key] = this.#indexOf(revocation.filter)
    const records = index.get(key)
    if (records === undefined) index.set(key, [revocation])
    else records.push(revocation)
    this.#size++
    for (const listener of this.#listeners) listener(revocation)
  }

  isRevoked (principal: Principal, now: number): boolean {
    // A token id is refused whenever it was issued; the others only for tokens issued before.
    if (principal.tokenId !== undefined && refuses(this.#byToken.get(principal.tokenId), now, Number.NEGATIVE_INFINITY)) return true
    const iat = issuedAt(principal)
    return refuses(this.#bySession.get(principal.sessionId), now, iat) ||
      refuses(this.#bySubject.get(principal.id), now, iat, principal.issuer) ||
      (principal.issuer !== undefined && refuses(this.#byIssuer.get(principal.issuer), now, iat))
  }

  subscribe (listener: (revocation: Revocation) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** records kept, those past their `until` included until the next sweep (for tests and metrics) */
  get size (): number { return this.#size }

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

/** What the live view reads of each open session. */
interface LiveSession { readonly id: string, readonly principal: Principal | null, info(): SessionInfo }

/**
 * The registry used when none is given: a live view of this process's open sessions, so
 * nothing is copied per session; `add`, `update` and `remove` have nothing to do.
 */
export class LiveSessionRegistry implements SessionRegistry {
  readonly #live: ReadonlySet<LiveSession>

  constructor (live: ReadonlySet<LiveSession>) {
    this.#live = live
  }

  add (): void {}
  update (): void {}
  remove (): void {}
  list (filter?: SessionFilter): readonly SessionInfo[] {
    const out: SessionInfo[] = []
    for (const s of this.#live) if (filter === undefined || matches(filter, s.id, s.principal)) out.push(s.info())
    return out
  }
}
