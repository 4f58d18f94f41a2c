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
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * Whether the base64url text `token[start, end)` (alphabet already checked) is the one
 * spelling of its bytes: a length that can end a byte sequence, and zero in the bits its
 * last character carries past the last byte. `Buffer.from(text, 'base64url')` ignores
 * both, so without this check one token would have several spellings that all verify.
 */
function canonical (token: string, start: number, end: number): boolean {
  const rest = (end - start) % 4
  if (rest === 0) return true
  if (rest === 1) return false
  // 2 characters carry one byte (4 spare bits), 3 carry two bytes (2 spare bits).
  return (ALPHABET.indexOf(token.charAt(end - 1)) & (rest === 2 ? 0x0f : 0x03)) === 0
}

// Segments are decoded into this one buffer and read out as text: a handshake allocates only
// the text, not a Buffer (and its view) per segment. It grows to the largest segment seen,
// which `maxTokenBytes` bounds (the caller checks the token's length first).
let scratch = Buffer.allocUnsafe(2048)

/** The JSON object a base64url segment `token[start, end)` holds, or `undefined`. */
function segment (token: string, start: number, end: number): Record<string, unknown> | undefined {
  // base64url carries 3 bytes in 4 characters (the alphabet and the length were checked).
  const room = Math.ceil((end - start) * 3 / 4)
  if (room > scratch.length) scratch = Buffer.allocUnsafe(room)
  const length = scratch.write(token.slice(start, end), 0, 'base64url')
  let value: unknown
  try {
    value = JSON.parse(scratch.toString('utf8', 0, length))
  } catch {
    return undefined
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
}

/**
 * Reads header and claims without verifying anything, so a token that cannot pass
 * (wrong issuer, audience, expired, malformed, a segment not canonically encoded) is
 * refused before any signature work.
 * Nothing decoded here is trusted until the signature is verified.
 */
export function decodeToken (token: string): DecodedToken | undefined {
  if (!COMPACT_JWS.test(token)) return undefined
  const dot1 = token.indexOf('.')
  const dot2 = token.indexOf('.', dot1 + 1)
  // The signature too: fast-jwt decodes it as leniently, so a sibling spelling would verify.
  if (!canonical(token, 0, dot1) || !canonical(token, dot1 + 1, dot2) || !canonical(token, dot2 + 1, token.length)) {
    return undefined
  }
  const header = segment(token, 0, dot1)
  if (header === undefined) return undefined
  const payload = segment(token, dot1 + 1, dot2)
  if (payload === undefined) return undefined
  return { header, payload }
}
