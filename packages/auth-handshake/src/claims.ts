import type { StandardClaims } from '@wsguard/core'
import type { IssuerConfig } from './issuer-options.js'
import type { JwsHeader } from './decode.js'

/** Why a token was refused, for the `error_description` and diagnostics. Fixed words, never token content. */
export type TokenFault =
  | 'malformed' | 'algorithm' | 'typ' | 'crit' | 'kid' | 'issuer' | 'audience' | 'subject'
  | 'expired' | 'missing-exp' | 'not-yet-valid' | 'issued-in-future' | 'too-old' | 'signature' | 'claims' | 'unknown-key'
  | 'scope' | 'verification' | 'key-header' | 'confirmation'

const KID = /^[\x21-\x7e]{1,256}$/
// Header members that name where a token's key is, or carry the key itself (RFC 7515 §4.1).
const KEY_HEADERS = ['jku', 'jwk', 'x5u'] as const

/** Header checks that need no key: algorithm allowlist, `typ`, `crit`, `kid` shape. */
export function checkHeader (header: JwsHeader, issuer: IssuerConfig): TokenFault | undefined {
  if (typeof header.alg !== 'string' || !(issuer.algorithms as readonly string[]).includes(header.alg)) return 'algorithm'
  // We implement no JWS extension, so any `crit` is one we do not understand (RFC 7515 §4.1.11).
  if (header.crit !== undefined) return 'crit'
  if (header.kid !== undefined && (typeof header.kid !== 'string' || !KID.test(header.kid))) return 'kid'
  // An app's key function is handed the decoded header: one that followed these would let the
  // token choose its own key. wsguard's own key sets never read them.
  if (issuer.fastifyJwt !== undefined && KEY_HEADERS.some((name) => header[name] !== undefined)) return 'key-header'
  if (issuer.typ !== undefined) {
    if (typeof header.typ !== 'string' || header.typ.toLowerCase().replace(/^application\//, '') !== issuer.typ) return 'typ'
  }
  return undefined
}

/** Registered-claim checks with the injected clock (`iss` was matched by the caller). */
export function checkClaims (payload: StandardClaims, issuer: IssuerConfig, now: number): TokenFault | undefined {
  const aud = payload.aud
  if (typeof aud === 'string') {
    if (!issuer.audiences.includes(aud)) return 'audience'
  } else if (Array.isArray(aud)) {
    if (!aud.some((a) => typeof a === 'string' && issuer.audiences.includes(a))) return 'audience'
  } else {
    return 'audience'
  }
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) return 'subject'
  const tolerance = issuer.clockToleranceMs
  const exp = payload.exp
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'missing-exp'
  if (exp * 1000 + tolerance <= now) return 'expired'
  const nbf = payload.nbf
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf * 1000 - tolerance > now)) return 'not-yet-valid'
  const iat = payload.iat
  if (iat !== undefined && (typeof iat !== 'number' || iat * 1000 - tolerance > now)) return 'issued-in-future'
  if (issuer.maxTokenAgeMs !== undefined && (typeof iat !== 'number' || now - iat * 1000 > issuer.maxTokenAgeMs + tolerance)) return 'too-old'
  // A scope claim we cannot read must not read as "no scopes", which passes `allowedScopes`.
  if (!scopeReadable(payload.scope) || !scopeReadable(payload.scp)) return 'scope'
  if (!confirmationCheckable(payload.cnf)) return 'confirmation'
  return undefined
}

/**
 * Whether a token's confirmation (`cnf`, RFC 7800) is one this server checks: none, or a
 * certificate thumbprint (`x5t#S256`, RFC 8705). A token bound to a key any other way (DPoP's
 * `jkt`, RFC 9449; a `jwk`, `jwe`, `kid` or `jku`) is sender-constrained to a proof this
 * server cannot ask for: taken as a bearer token, it would let in whoever stole it.
 */
export function confirmationCheckable (cnf: unknown): boolean {
  if (cnf === undefined) return true
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return false
  for (const member in cnf) if (member !== 'x5t#S256') return false
  return true
}

/**
 * The scopes a token grants, from `scope` and `scp`, each either a space-separated string
 * (RFC 8693 §4.2, RFC 9068 §2.2.3; some issuers put it in `scp`) or an array of scope
 * strings (some issuers). With both claims, their union: `allowedScopes` sees every scope
 * either one grants. `undefined` (a malformed token) when either claim has another shape:
 * `null`, a number, an object, an array holding anything but non-empty strings without spaces.
 */
export function readScopes (payload: StandardClaims): string[] | undefined {
  const scope = scopeClaim(payload.scope)
  const scp = scopeClaim(payload.scp)
  if (scope === undefined || scp === undefined) return undefined
  // One claim (the usual case) needs no union: only its repeats are dropped.
  if (scp.length === 0) return unique(scope)
  if (scope.length === 0) return unique(scp)
  return [...new Set([...scope, ...scp])]
}

/** Whether `readScopes` can read this claim (without building its list): checked before the signature. */
export function scopeReadable (value: unknown): boolean {
  if (value === undefined || typeof value === 'string') return true
  if (!Array.isArray(value)) return false
  for (let i = 0; i < value.length; i++) {
    const s: unknown = value[i]
    if (typeof s !== 'string' || s.length === 0 || s.includes(' ')) return false
  }
  return true
}

const NO_SCOPES: readonly string[] = []

function scopeClaim (value: unknown): readonly string[] | undefined {
  if (!scopeReadable(value)) return undefined
  if (value === undefined) return NO_SCOPES
  if (typeof value !== 'string') return value as string[]
  const parts = value.split(' ')
  return parts.includes('') ? parts.filter((s) => s.length > 0) : parts
}

/** The list without repeats, in order; a fresh array (the caller freezes it, and the claim's own array is not its to freeze). */
function unique (list: readonly string[]): string[] {
  if (list.length < 2) return list.slice()
  if (list.length > 16) return [...new Set(list)]
  const out: string[] = []
  for (let i = 0; i < list.length; i++) {
    const s = list[i] as string
    if (!out.includes(s)) out.push(s)
  }
  // The principal keeps it for as long as the socket is open: an array grown by push keeps
  // room for 17 entries (184 bytes for three scopes), its copy only what it holds (73).
  return out.slice()
}
