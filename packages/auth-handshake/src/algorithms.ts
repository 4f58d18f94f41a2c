/** The JWS algorithms wsguard verifies. HMAC and `none` are deliberately absent. */
export const JWS_ALGORITHMS = Object.freeze([
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA'
] as const)

export type JwsAlgorithm = typeof JWS_ALGORITHMS[number]

export function isJwsAlgorithm (value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && (JWS_ALGORITHMS as readonly string[]).includes(value)
}

/**
 * HMAC algorithms: accepted only from an issuer verified by the app's `@fastify/jwt` with
 * `allowHmac: true`. Whoever holds the shared secret can mint tokens, not only verify them.
 */
export const HMAC_ALGORITHMS = Object.freeze(['HS256', 'HS384', 'HS512'] as const)

export type HmacAlgorithm = typeof HMAC_ALGORITHMS[number]

export function isHmacAlgorithm (value: unknown): value is HmacAlgorithm {
  return typeof value === 'string' && (HMAC_ALGORITHMS as readonly string[]).includes(value)
}

/**
 * Whether a JWK's key type (and curve) can verify signatures of `alg`. Never for an HMAC
 * algorithm: wsguard's key sets hold public keys only, and a public key must never be
 * used as an HMAC secret.
 */
export function keyFitsAlgorithm (jwk: { kty?: unknown, crv?: unknown }, alg: JwsAlgorithm | HmacAlgorithm): boolean {
  switch (alg) {
    case 'HS256':
    case 'HS384':
    case 'HS512': return false
    case 'ES256': return jwk.kty === 'EC' && jwk.crv === 'P-256'
    case 'ES384': return jwk.kty === 'EC' && jwk.crv === 'P-384'
    case 'ES512': return jwk.kty === 'EC' && jwk.crv === 'P-521'
    case 'EdDSA': return jwk.kty === 'OKP' && jwk.crv === 'Ed25519'
    default: return jwk.kty === 'RSA'
  }
}
