import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'

export type TestAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA'

/** A signing key pair with its public JWK, as an issuer would publish it. */
export interface TestKey {
  alg: TestAlgorithm
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
  /** public JWK with `kid`, `alg` and `use: sig` */
  publicJwk: Record<string, unknown>
  /** private JWK with `kid`, `alg` and `use: sig` (for oidc-provider) */
  privateJwk: Record<string, unknown>
}

/** A fresh key pair for `alg`, with a random `kid` unless one is given. */
export function generateKey (alg: TestAlgorithm, kid: string = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`): TestKey {
  const pair = alg === 'EdDSA'
    ? generateKeyPairSync('ed25519')
    : alg === 'ES256' || alg === 'ES384'
      ? generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const meta = { kid, alg, use: 'sig' }
  return {
    alg,
    kid,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    publicJwk: { ...pair.publicKey.export({ format: 'jwk' }), ...meta },
    privateJwk: { ...pair.privateKey.export({ format: 'jwk' }), ...meta }
  }
}

export function jwks (...keys: TestKey[]): { keys: Array<Record<string, unknown>> } {
  return { keys: keys.map((k) => k.publicJwk) }
}
