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

/** Whether a JWK's key type (and curve) can verify signatures of `alg`. */
export function keyFitsAlgorithm (jwk: { kty?: unknown, crv?: unknown }, alg: JwsAlgorithm): boolean {
  switch (alg) {
    case 'ES256': return jwk.kty === 'EC' && jwk.crv === 'P-256'
    case 'ES384': return jwk.kty === 'EC' && jwk.crv === 'P-384'
    case 'ES512': return jwk.kty === 'EC' && jwk.crv === 'P-521'
    case 'EdDSA': return jwk.kty === 'OKP' && jwk.crv === 'Ed25519'
    default: return jwk.kty === 'RSA'
  }
}
