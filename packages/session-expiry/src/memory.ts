import { callEach, invalidOption, RevocationIndex, type Principal, type Revocation, type RevocationStore, type SessionFilter, type SessionInfo, type SessionRegistry } from '@wsguard/core'
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

/** Records an in-memory revocation store keeps in force at most, by default. */
export const DEFAULT_MAX_REVOCATION_RECORDS = 100_000

export interface MemoryRevocationStoreOptions {
  /**
   * Records kept in force at most; one more is refused (`revoke()` rejects, recording and
   * delivering nothing: a back-channel logout is 503 and its IdP retries; `wsSessions.revoke`
   * rejects, having closed this process's matching sockets already) rather than kept without
   * bound: each back-channel logout is a record kept for `revocationRetentionMs`. Default 100000.
   */
  maxRecords?: number
}

/**
 * The default revocation store: in this process, delivered synchronously. Records are kept
 * and checked by core's `RevocationIndex` (four map lookups a check, however many are kept;
 * expired records swept when the count doubles), the same rules as `@wsguard/redis`'s mirror.
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly #index = new RevocationIndex()
  readonly #listeners = new Set<(r: Revocation) => void>()
  readonly #max: number

  constructor (opts: MemoryRevocationStoreOptions = {}) {
    const { maxRecords = DEFAULT_MAX_REVOCATION_RECORDS } = opts
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) throw invalidOption('MemoryRevocationStore: opts.maxRecords must be an integer, 1 or more')
    this.#max = maxRecords
  }

  /** Rejects, recording and delivering nothing, when `maxRecords` records are in force at the revocation's `at`. */
  async revoke (revocation: Revocation): Promise<void> {
    // Records are dropped as of the earlier of the revocation's date and this machine's clock: a
    // revocation is dated ahead of now (a clock tolerance, an IdP's iat), and a record still in
    // force now must not be dropped for it.
    const now = Math.min(revocation.at, Date.now())
    if (this.#index.size >= this.#max) {
      this.#index.sweep(now)
      if (this.#index.size >= this.#max) throw new Error(`MemoryRevocationStore: ${this.#max} records in force (maxRecords); refusing rather than growing without bound`)
    }
    this.#index.add(revocation, now)
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
