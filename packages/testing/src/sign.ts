import { createHmac, sign as cryptoSign, constants } from 'node:crypto'
import type { TestKey } from './keys.js'

export const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url')

/** Encodes a JSON value as one JWS segment. */
export const segment = (value: unknown): string => b64url(JSON.stringify(value))

/** Signs `header.payload` as `alg` demands (raw r||s for ECDSA, PSS for PS*). */
export function signInput (input: string, key: TestKey, alg: string = key.alg): string {
  const data = Buffer.from(input)
  switch (alg) {
    case 'EdDSA':
      return b64url(cryptoSign(null, data, key.privateKey))
    case 'ES256':
    case 'ES384':
      return b64url(cryptoSign(alg === 'ES256' ? 'sha256' : 'sha384', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }))
    case 'PS256':
      return b64url(cryptoSign('sha256', data, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }))
    default:
      return b64url(cryptoSign('sha256', data, key.privateKey))
  }
}

export interface MintOptions {
  /** extra or replacing header members; `undefined` values remove a member */
  header?: Record<string, unknown>
}

/** Mints a compact JWS signed with `key`; header defaults to `{ alg, kid, typ: 'JWT' }`. */
export function mintToken (key: TestKey, claims: Record<string, unknown>, options: MintOptions = {}): string {
  const header: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header }
  for (const name of Object.keys(header)) if (header[name] === undefined) delete header[name]
  const input = `${segment(header)}.${segment(claims)}`
  return `${input}.${signInput(input, key, header.alg as string)}`
}

/** HS256 over `header.payload` with an arbitrary secret (for key-confusion attacks). */
export function hmacToken (header: Record<string, unknown>, claims: Record<string, unknown>, secret: string | Buffer): string {
  const input = `${segment(header)}.${segment(claims)}`
  return `${input}.${b64url(createHmac('sha256', secret).update(input).digest())}`
}

/** Standard claims for a test token valid for `ttlSeconds` from `nowMs`. */
export function claimsFor (issuer: string, audience: string, sub: string, nowMs: number = Date.now(), ttlSeconds = 300): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000)
  return { iss: issuer, aud: audience, sub, iat, exp: iat + ttlSeconds }
}
