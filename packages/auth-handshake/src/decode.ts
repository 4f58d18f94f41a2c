import type { StandardClaims } from '@wsguard/core'

export interface JwsHeader {
  alg?: unknown
  typ?: unknown
  kid?: unknown
  crit?: unknown
  [name: string]: unknown
}

export interface DecodedToken {
  header: JwsHeader
  payload: StandardClaims
}

// Compact JWS: three base64url segments, the signature not empty (so never `alg: none`).
const COMPACT_JWS = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}$/

function segment (text: string): Record<string, unknown> | undefined {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
}

/**
 * Reads header and claims without verifying anything, so a token that cannot pass
 * (wrong issuer, audience, expired, malformed) is refused before any signature work.
 * Nothing decoded here is trusted until the signature is verified.
 */
export function decodeToken (token: string): DecodedToken | undefined {
  if (!COMPACT_JWS.test(token)) return undefined
  const dot1 = token.indexOf('.')
  const dot2 = token.indexOf('.', dot1 + 1)
  const header = segment(token.slice(0, dot1))
  if (header === undefined) return undefined
  const payload = segment(token.slice(dot1 + 1, dot2))
  if (payload === undefined) return undefined
  return { header, payload }
}
