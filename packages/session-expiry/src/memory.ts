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

/**
 * The default revocation store: in this process, delivered synchronously. A revoked token
 * id is refused until the record's `until`; a revoked subject, session or issuer refuses
 * tokens issued (`iat`) at or before the revocation, until its `until`.
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly #records: Revocation[] = []
  readonly #listeners = new Set<(r: Revocation) => void>()

  async revoke (revocation: Revocation): Promise<void> {
    this.#prune(revocation.at)
    this.#records.push(revocation)
    for (const listener of this.#listeners) listener(revocation)
  }

  isRevoked (principal: Principal, now: number): boolean {
    for (const r of this.#records) {
      if (r.until < now) continue
      const f = r.filter
      if ('tokenId' in f) {
        if (principal.tokenId === f.tokenId) return true
      } else if (matches(f, '', principal) && issuedAt(principal) <= r.at) {
        return true
      }
    }
    return false
  }

  subscribe (listener: (revocation: Revocation) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** records kept (for tests and metrics) */
  get size (): number { return this.#records.length }

  #prune (now: number): void {
    let w = 0
    for (const r of this.#records) if (r.until >= now) this.#records[w++] = r
    this.#records.length = w
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
