import type { Principal } from '@wsguard/core'

/** Reads one value of a principal; `undefined` when it is absent. */
export type PrincipalGetter = (principal: Principal) => unknown

const TOP_LEVEL = new Set(['id', 'kind', 'method', 'issuer', 'sessionId', 'tokenId'])

/**
 * Compiles a principal path (`id`, `kind`, `method`, `issuer`, `sessionId`, `tokenId`,
 * `claims.<name>[.<name>…]`) into a getter, or returns `undefined` if it names nothing.
 * Only own properties are read, so `claims.constructor` or `claims.__proto__` find nothing.
 */
export function compilePath (path: unknown): PrincipalGetter | undefined {
  if (typeof path !== 'string') return undefined
  if (TOP_LEVEL.has(path)) {
    const key = path as keyof Principal
    return (p) => p[key]
  }
  const keys = path.split('.')
  if (keys.length < 2 || keys[0] !== 'claims' || keys.some((k) => k.length === 0)) return undefined
  const claimKeys = keys.slice(1)
  return (p) => {
    let value: unknown = p.claims
    for (let i = 0; i < claimKeys.length; i++) {
      const k = claimKeys[i] as string
      if (typeof value !== 'object' || value === null || !Object.hasOwn(value, k)) return undefined
      value = (value as Record<string, unknown>)[k]
    }
    return value
  }
}

/**
 * A claim's number as a segment's text, for a safe integer only. Past 2^53 a JSON number is
 * rounded when the token is parsed, so `9007199254740993` and `9007199254740992` both read as
 * the second: two tenants would share one segment. Such a number binds nothing (fails closed).
 * (Any other number has a `.` or an exponent in its text, which no segment holds.)
 */
export function integerText (value: number): string | undefined {
  return Number.isSafeInteger(value) ? String(value) : undefined
}

/**
 * Whether a principal value binds a captured segment: a string equal to it, a safe integer
 * whose decimal text equals it, or an array holding such a value.
 */
export function valueMatches (value: unknown, segment: string): boolean {
  if (typeof value === 'string') return value === segment
  if (typeof value === 'number') return integerText(value) === segment
  if (Array.isArray(value)) return value.some((v) => typeof v !== 'object' && valueMatches(v, segment))
  return false
}
