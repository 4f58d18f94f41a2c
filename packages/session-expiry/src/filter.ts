import { MAX_REVOCATION_ORIGIN_LENGTH, type Principal, type SessionFilter } from '@wsguard/core'

/** What `revoke()` may say of itself besides the filter: who asked and why (kept with the revocation, audited everywhere). */
export interface RevokeOptions {
  /** who asked for it (an operator, a service), at most 128 characters */
  actor?: string
  /** why, at most 128 characters */
  reason?: string
}

/** Checks a filter passed to `revoke()` or `list()`: exactly one of its shapes, non-empty strings. */
export function checkFilter (filter: unknown, what: string): SessionFilter {
  if (typeof filter !== 'object' || filter === null) throw new TypeError(`${what}: the filter must be an object`)
  const f = filter as Record<string, unknown>
  const keys = Object.keys(f).sort().join(',')
  const ok = (k: string): boolean => typeof f[k] === 'string' && (f[k] as string).length > 0
  if ((keys === 'subject' && ok('subject')) || (keys === 'issuer,subject' && ok('subject') && ok('issuer')) ||
    (keys === 'sessionId' && ok('sessionId')) || (keys === 'issuer,sessionId' && ok('sessionId') && ok('issuer')) ||
    (keys === 'tokenId' && ok('tokenId')) || (keys === 'issuer' && ok('issuer'))) {
    return Object.freeze({ ...f }) as SessionFilter
  }
  throw new TypeError(`${what}: the filter must be one of { subject[, issuer] }, { sessionId[, issuer] }, { tokenId }, { issuer } with non-empty strings`)
}

/** Checks `revoke()`'s options: only `actor` and `reason`, each a string of 1–128 characters. */
export function checkRevokeOptions (options: unknown, what: string): RevokeOptions {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError(`${what}: the options must be an object`)
  const o = options as Record<string, unknown>
  const out: RevokeOptions = {}
  for (const key of Object.keys(o)) {
    if (key !== 'actor' && key !== 'reason') throw new TypeError(`${what}: ${key} is not an option (actor, reason)`)
    const v = o[key]
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_REVOCATION_ORIGIN_LENGTH) {
      throw new TypeError(`${what}: ${key} must be a string of 1–${MAX_REVOCATION_ORIGIN_LENGTH} characters`)
    }
    out[key] = v
  }
  return out
}

/** Which field a filter selects by, for the `revoked` event and channel. */
export function filterKind (filter: SessionFilter): 'subject' | 'sessionId' | 'tokenId' | 'issuer' {
  if ('subject' in filter) return 'subject'
  if ('sessionId' in filter) return 'sessionId'
  if ('tokenId' in filter) return 'tokenId'
  return 'issuer'
}

/** Whether a live session (its own id and principal) is selected by a filter. */
export function matches (filter: SessionFilter, id: string, principal: Principal | null): boolean {
  if ('sessionId' in filter) {
    return (filter.sessionId === id || principal?.sessionId === filter.sessionId) &&
      (filter.issuer === undefined || principal?.issuer === filter.issuer)
  }
  if (principal === null) return false
  if ('subject' in filter) return principal.id === filter.subject && (filter.issuer === undefined || principal.issuer === filter.issuer)
  if ('tokenId' in filter) return principal.tokenId === filter.tokenId
  return principal.issuer === filter.issuer
}
