import type { Principal, Revocation, SessionFilter } from '@wsguard/core'

/** ms since epoch the token was issued; a token without `iat` counts as issued long ago. */
function issuedAt (principal: Principal): number {
  const iat = principal.claims.iat
  return typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : Number.NEGATIVE_INFINITY
}

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
 * This instance's copy of the revocations kept in Redis, by what they select (token id,
 * session, subject, issuer), so a check is four map lookups; the same rules as session-expiry's
 * `MemoryRevocationStore`. Each record is kept once, by its serialised form (it reaches an
 * instance by the stream, by the load at start, and on the instance that issued it, at once).
 */
export class RevocationMirror {
  readonly #byToken = new Map<string, Revocation[]>()
  readonly #bySession = new Map<string, Revocation[]>()
  readonly #bySubject = new Map<string, Revocation[]>()
  readonly #byIssuer = new Map<string, Revocation[]>()
  readonly #known = new Map<string, Revocation>()
  #sweepAt = FIRST_SWEEP

  /** Adds a record (its JSON); returns it when it is new, `undefined` when already known or malformed. */
  add (json: string, now: number): Revocation | undefined {
    if (this.#known.has(json)) return undefined
    const r = parse(json)
    if (r === undefined) return undefined
    if (this.#known.size >= this.#sweepAt) {
      this.#sweep(now)
      this.#sweepAt = Math.max(FIRST_SWEEP, 2 * this.#known.size)
    }
    this.#known.set(json, r)
    const [index, key] = this.#indexOf(r.filter)
    const records = index.get(key)
    if (records === undefined) index.set(key, [r])
    else records.push(r)
    return r
  }

  isRevoked (principal: Principal, now: number): boolean {
    if (principal.tokenId !== undefined && refuses(this.#byToken.get(principal.tokenId), now, Number.NEGATIVE_INFINITY)) return true
    const iat = issuedAt(principal)
    return refuses(this.#bySession.get(principal.sessionId), now, iat) ||
      refuses(this.#bySubject.get(principal.id), now, iat, principal.issuer) ||
      (principal.issuer !== undefined && refuses(this.#byIssuer.get(principal.issuer), now, iat))
  }

  /** records kept, those past their `until` included until the next sweep */
  get size (): number { return this.#known.size }

  #indexOf (f: SessionFilter): [Map<string, Revocation[]>, string] {
    if ('tokenId' in f) return [this.#byToken, f.tokenId]
    if ('sessionId' in f) return [this.#bySession, f.sessionId]
    if ('subject' in f) return [this.#bySubject, f.subject]
    return [this.#byIssuer, f.issuer]
  }

  #sweep (now: number): void {
    for (const [json, r] of this.#known) if (r.until < now) this.#known.delete(json)
    for (const index of [this.#byToken, this.#bySession, this.#bySubject, this.#byIssuer]) {
      for (const [key, records] of index) {
        const kept = records.filter((r) => r.until >= now)
        if (kept.length === 0) index.delete(key)
        else index.set(key, kept)
      }
    }
  }
}

const KINDS: Record<string, readonly string[]> = {
  subject: ['subject'], 'issuer,subject': ['issuer', 'subject'], sessionId: ['sessionId'], tokenId: ['tokenId'], issuer: ['issuer']
}

/** A revocation read back from Redis, checked: anything else in the stream is skipped, never trusted. */
export function parse (json: string): Revocation | undefined {
  let r: unknown
  try { r = JSON.parse(json) } catch { return undefined }
  const v = r as { filter?: Record<string, unknown>, at?: unknown, until?: unknown }
  if (typeof v !== 'object' || v === null || typeof v.filter !== 'object' || v.filter === null) return undefined
  if (typeof v.at !== 'number' || typeof v.until !== 'number') return undefined
  const names = KINDS[Object.keys(v.filter).sort().join(',')]
  if (names === undefined || !names.every((n) => typeof v.filter?.[n] === 'string')) return undefined
  return Object.freeze({ filter: Object.freeze({ ...v.filter }) as SessionFilter, at: v.at, until: v.until })
}

/** The one serialised form of a revocation (the same record always gives the same text). */
export function serialise (r: Revocation): string {
  const f = r.filter as Record<string, string>
  const filter: Record<string, string> = {}
  for (const k of Object.keys(f).sort()) filter[k] = f[k] as string
  return JSON.stringify({ filter, at: r.at, until: r.until })
}
