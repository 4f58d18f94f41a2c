import type { Principal, SessionFilter } from '@wsguard/core'

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
