import { callEach, RevocationIndex, type Principal, type Revocation, type RevocationStore, type SessionFilter, type SessionInfo, type SessionRegistry } from '@wsguard/core'
import { matches } from './filter.js'

/**
 * A registry of this process's sessions, kept as `SessionInfo` snapshots (`opts.registry`).
 * Without a registry, `wsSessions.list()` reads the live sessions instead (`listLive`).
 */
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

/**
 * The default revocation store: in this process, delivered synchronously. Records are kept
 * and checked by core's `RevocationIndex` (four map lookups a check, however many are kept;
 * expired records swept when the count doubles), the same rules as `@wsguard/redis`'s mirror.
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly #index = new RevocationIndex()
  readonly #listeners = new Set<(r: Revocation) => void>()

  async revoke (revocation: Revocation): Promise<void> {
    this.#index.add(revocation, revocation.at)
    // A listener that throws never keeps the revocation from the listeners after it.
    callEach(this.#listeners, revocation)
  }

  isRevoked (principal: Principal, now: number): boolean {
    return this.#index.isRevoked(principal, now)
  }

  subscribe (listener: (revocation: Revocation) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** records kept, those past their `until` included until the next sweep (for tests and metrics) */
  get size (): number { return this.#index.size }
}

/** What the live view reads of each open session. */
interface LiveSession { readonly id: string, readonly principal: Principal | null, info(): SessionInfo }

/**
 * `wsSessions.list()` when no registry is given: a live view of this process's open sessions,
 * so nothing is copied (or built) per session: no `add`, `update` or `remove` to call.
 */
export function listLive (live: ReadonlySet<LiveSession>, filter?: SessionFilter): readonly SessionInfo[] {
  const out: SessionInfo[] = []
  for (const s of live) if (filter === undefined || matches(filter, s.id, s.principal)) out.push(s.info())
  return out
}
