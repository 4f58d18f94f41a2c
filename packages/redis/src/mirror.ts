import { RevocationIndex, revocationOrigin, type Principal, type Revocation, type SessionFilter } from '@wsguard/core'

const FIRST_SWEEP = 64

/**
 * This instance's copy of the revocations kept in Redis, checked by core's `RevocationIndex`
 * (the rules of session-expiry's `MemoryRevocationStore`). Each record is kept once, by its
 * serialised form (it reaches an instance by the stream, by the load at start, and on the
 * instance that issued it, at once).
 */
export class RevocationMirror {
  readonly #index = new RevocationIndex()
  readonly #known = new Map<string, Revocation>()
  #sweepAt = FIRST_SWEEP
  /** the latest `until` of any record added (0 before any) */
  latestUntil = 0

  /** Adds a record (its JSON); returns it when it is new, `undefined` when already known or malformed. */
  add (json: string, now: number): Revocation | undefined {
    if (this.#known.has(json)) return undefined
    const r = parse(json)
    if (r === undefined) return undefined
    if (this.#known.size >= this.#sweepAt) this.sweep(now)
    this.#known.set(json, r)
    if (r.until > this.latestUntil) this.latestUntil = r.until
    this.#index.add(r, now)
    return r
  }

  /** The records still in force (`until` after `now`), as kept: their `until` and their JSON. */
  inForce (now: number): Array<[number, string]> {
    const out: Array<[number, string]> = []
    for (const [json, r] of this.#known) if (r.until > now) out.push([r.until, json])
    return out
  }

  isRevoked (principal: Principal, now: number): boolean {
    return this.#index.isRevoked(principal, now)
  }

  /** Drops the records past their `until` at `now`, here and in the index. */
  sweep (now: number): void {
    for (const [text, kept] of this.#known) if (kept.until < now) this.#known.delete(text)
    this.#index.sweep(now)
    this.#sweepAt = Math.max(FIRST_SWEEP, 2 * this.#known.size)
  }

  /** whether this record (its JSON) is kept */
  has (json: string): boolean { return this.#known.has(json) }

  /** records kept, those past their `until` included until the next sweep */
  get size (): number { return this.#known.size }
}

const KINDS: Record<string, readonly string[]> = {
  subject: ['subject'],
  'issuer,subject': ['issuer', 'subject'],
  sessionId: ['sessionId'],
  'issuer,sessionId': ['issuer', 'sessionId'],
  tokenId: ['tokenId'],
  issuer: ['issuer']
}

/**
 * A revocation read back from Redis, checked: anything else in the stream is skipped, never
 * trusted. Its origin is bounded (`revocationOrigin`); a malformed origin is dropped, not the
 * revocation (refusing more is the safe side).
 */
export function parse (json: string): Revocation | undefined {
  let r: unknown
  try { r = JSON.parse(json) } catch { return undefined }
  const v = r as { filter?: Record<string, unknown>, at?: unknown, until?: unknown, origin?: unknown }
  if (typeof v !== 'object' || v === null || typeof v.filter !== 'object' || v.filter === null) return undefined
  if (typeof v.at !== 'number' || typeof v.until !== 'number') return undefined
  const names = KINDS[Object.keys(v.filter).sort().join(',')]
  if (names === undefined || !names.every((n) => typeof v.filter?.[n] === 'string')) return undefined
  const origin = revocationOrigin(v.origin)
  const filter = Object.freeze({ ...v.filter }) as SessionFilter
  return Object.freeze(origin === undefined ? { filter, at: v.at, until: v.until } : { filter, at: v.at, until: v.until, origin })
}

/**
 * The one serialised form of a revocation (the same record always gives the same text). Its
 * origin is bounded before it is written, and names `instance` when it names none.
 */
export function serialise (r: Revocation, instance: string): string {
  const f = r.filter as Record<string, string>
  const filter: Record<string, string> = {}
  for (const k of Object.keys(f).sort()) filter[k] = f[k] as string
  const o = revocationOrigin({ ...r.origin, instance: r.origin?.instance ?? instance }) as Record<string, string>
  const origin: Record<string, string> = {}
  for (const k of Object.keys(o).sort()) origin[k] = o[k] as string
  return JSON.stringify({ filter, at: r.at, until: r.until, origin })
}
