// The keys, claims and token recipes of the security suite. Every recipe is named in
// handshake-corpus.tsv; the corpus runner fails on a name this file does not define.
import { b64url, generateKey, hmacToken, mintToken, segment, signInput, type TestKey } from '@wsguard/testing'

export const ISS = 'https://idp.test'
export const AUD = 'feed-api'
export const TYP = 'at+jwt'
/** A whole second, so token times (seconds) line up with the fake clock (ms). */
export const T0 = 1_800_000_000_000
export const TENANT = 'acme'
export const REVOKED_JTI = 'jti-revoked'
export const REVOKED_SUBJECT = 'mallory'

export const ec = generateKey('ES256', 'ec-1')
export const rsa = generateKey('RS256', 'rsa-1')
/** a key the issuer never published, holding a kid the issuer does use */
export const attacker = generateKey('ES256', 'ec-1')

const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string
let serial = 0

/** Claims of a token the route accepts at `nowMs`, with `extra` added or replacing. */
export function claims (nowMs: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000)
  const standard = { iss: ISS, aud: AUD, sub: 'alice', iat, exp: iat + 3600, jti: `j-${++serial}` }
  return { ...standard, scope: 'feed:read', tenant: TENANT, ...extra }
}

/** The same claims without `name`. */
export function claimsWithout (nowMs: number, name: string): Record<string, unknown> {
  const c = claims(nowMs)
  delete c[name]
  return c
}

/** A token signed by `key` with the route's `typ`; `header` adds or replaces members (undefined removes). */
export function sign (key: TestKey, body: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  return mintToken(key, body, { header: { typ: TYP, ...header } })
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * The same bytes with a non-canonical last character: one of the spare low bits set. Only
 * for a segment whose length is 2 or 3 mod 4 (it has spare bits); the decoded bytes stay
 * the same, so a decoder that ignores them reads an identical value.
 */
export function setSpareBit (text: string): string {
  const last = ALPHABET.indexOf(text.slice(-1))
  return text.slice(0, -1) + (ALPHABET[last | 1] as string)
}

/** A JSON segment padded (with member `p`) to a length that leaves spare bits in base64url. */
export function segmentWithSpareBits (value: Record<string, unknown>): string {
  const base = JSON.stringify({ ...value, p: '' }).length
  // length ≡ 1 (mod 3) bytes → ≡ 2 (mod 4) characters, four spare bits
  return setSpareBit(segment({ ...value, p: 'x'.repeat((((1 - base) % 3) + 3) % 3) }))
}

/** A token signed over a header or payload segment with a spare bit set. */
export function spareBitToken (nowMs: number, where: 'header' | 'payload'): string {
  const h = { alg: 'ES256', kid: ec.kid, typ: TYP }
  const p = claims(nowMs)
  const input = where === 'header' ? `${segmentWithSpareBits(h)}.${segment(p)}` : `${segment(h)}.${segmentWithSpareBits(p)}`
  return `${input}.${signInput(input, ec)}`
}

// The order of P-256: s and n - s both verify (ECDSA malleability); JWS does not ask for low S.
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n

/** The same ES256 token with its signature's S in the upper half of the group order. */
export function highS (token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const sig = Buffer.from(s, 'base64url')
  const sValue = BigInt(`0x${sig.subarray(32).toString('hex')}`)
  // s stays when it is already high; otherwise n - s (no branch: the factor is 0 or 1)
  const high = sValue + (P256_N - 2n * sValue) * BigInt(Number(sValue * 2n < P256_N))
  const bytes = Buffer.from(high.toString(16).padStart(64, '0'), 'hex')
  return `${h}.${p}.${b64url(Buffer.concat([sig.subarray(0, 32), bytes]))}`
}

/** Whether the signature of an ES256 token has a high S. */
export function isHighS (token: string): boolean {
  const s = BigInt(`0x${Buffer.from(token.split('.')[2] as string, 'base64url').subarray(32).toString('hex')}`)
  return s * 2n > P256_N
}

type Recipe = (nowMs: number) => string

const valid = (now: number): string => sign(ec, claims(now))
const parts = (now: number): [string, string, string] => valid(now).split('.') as [string, string, string]
/** the signature with its eleventh character replaced by the next one of the alphabet */
const tamper = (s: string): string => {
  const next = ALPHABET[(ALPHABET.indexOf(s[10] as string) + 1) % 64] as string
  return `${s.slice(0, 10)}${next}${s.slice(11)}`
}
const S = 1000

/** Named token recipes, each given the server's current time (ms). */
export const RECIPES: Readonly<Record<string, Recipe>> = Object.freeze({
  valid,
  'valid-rsa': (now) => sign(rsa, claims(now)),
  'valid-aud-array': (now) => sign(ec, claims(now, { aud: ['other-api', AUD] })),
  expired: (now) => sign(ec, claims(now - 3600 * S, { exp: Math.floor(now / S) - 60 })),
  'expired-within-tolerance': (now) => sign(ec, claims(now - 3600 * S, { exp: Math.floor(now / S) - 2 })),
  'nbf-future': (now) => sign(ec, claims(now, { nbf: Math.floor(now / S) + 3600 })),
  'iat-future': (now) => sign(ec, claims(now, { iat: Math.floor(now / S) + 3600 })),
  'wrong-iss': (now) => sign(ec, claims(now, { iss: 'https://evil.test' })),
  'wrong-aud': (now) => sign(ec, claims(now, { aud: 'other-api' })),
  'aud-array-without-ours': (now) => sign(ec, claims(now, { aud: ['a', 'b'] })),
  'alg-none': (now) => `${segment({ alg: 'none', typ: TYP })}.${segment(claims(now))}.`,
  'alg-none-signed': (now) => `${segment({ alg: 'none', kid: ec.kid, typ: TYP })}.${segment(claims(now))}.${parts(now)[2]}`,
  'alg-HS256-with-public-key': (now) => hmacToken({ alg: 'HS256', kid: rsa.kid, typ: TYP }, claims(now), rsaPem),
  'alg-RS256-on-ec-key': (now) => sign(rsa, claims(now), { kid: ec.kid }),
  'unknown-kid': (now) => sign(ec, claims(now), { kid: 'ec-unknown' }),
  'no-kid': (now) => sign(ec, claims(now), { kid: undefined }),
  'kid-traversal': (now) => sign(attacker, claims(now), { kid: '../../../../dev/null' }),
  'jku-header': (now) => sign(attacker, claims(now), { kid: 'evil', jku: 'https://evil.test/jwks' }),
  'embedded-jwk': (now) => sign(attacker, claims(now), { jwk: attacker.publicJwk }),
  'foreign-key-known-kid': (now) => sign(attacker, claims(now)),
  'bad-signature': (now) => { const [h, p, s] = parts(now); return `${h}.${p}.${tamper(s)}` },
  'tampered-claims': (now) => { const [h, , s] = parts(now); return `${h}.${segment(claims(now, { sub: 'root' }))}.${s}` },
  'stripped-signature': (now) => { const [h, p] = parts(now); return `${h}.${p}.` },
  'zero-signature': (now) => { const [h, p] = parts(now); return `${h}.${p}.${b64url(Buffer.alloc(64))}` },
  'crit-header': (now) => sign(ec, claims(now), { crit: ['exp'] }),
  'wrong-typ': (now) => sign(ec, claims(now), { typ: 'JWT' }),
  'missing-typ': (now) => sign(ec, claims(now), { typ: undefined }),
  'missing-sub': (now) => sign(ec, claimsWithout(now, 'sub')),
  'empty-sub': (now) => sign(ec, claims(now, { sub: '' })),
  'missing-exp': (now) => sign(ec, claimsWithout(now, 'exp')),
  'missing-iss': (now) => sign(ec, claimsWithout(now, 'iss')),
  'missing-aud': (now) => sign(ec, claimsWithout(now, 'aud')),
  'claims-schema-fail': (now) => sign(ec, claims(now, { tenant: 42 })),
  'over-scoped': (now) => sign(ec, claims(now, { scope: 'feed:read admin' })),
  'missing-scope': (now) => sign(ec, claims(now, { scope: 'feed:write' })),
  'other-tenant': (now) => sign(ec, claims(now, { tenant: 'globex' })),
  'revoked-jti': (now) => sign(ec, claims(now, { jti: REVOKED_JTI })),
  'revoked-subject': (now) => sign(ec, claims(now, { sub: REVOKED_SUBJECT })),
  'malformed-base64': (now) => { const [h, p, s] = parts(now); return `${h}.${p.slice(0, 8)}!${p.slice(9)}.${s}` },
  'padded-base64': (now) => { const [h, p, s] = parts(now); return `${h}==.${p}.${s}` },
  'not-a-jws': () => 'bm90LWEtand0',
  'two-segments': (now) => parts(now).slice(0, 2).join('.'),
  'four-segments': (now) => `${valid(now)}.${parts(now)[2]}`,
  'header-not-json': (now) => { const [, p, s] = parts(now); return `${b64url('nope')}.${p}.${s}` },
  'claims-array': (now) => { const [h, , s] = parts(now); return `${h}.${segment([1, 2])}.${s}` },
  'non-canonical-header': (now) => spareBitToken(now, 'header'),
  'non-canonical-payload': (now) => spareBitToken(now, 'payload'),
  'non-canonical-signature': (now) => { const [h, p, s] = parts(now); return `${h}.${p}.${setSpareBit(s)}` },
  'high-s': (now) => highS(valid(now)),
  'huge-token': (now) => sign(ec, claims(now, { pad: 'x'.repeat(8900) })),
  'giant-token': (now) => sign(ec, claims(now, { pad: 'x'.repeat(16_000) })),
  whitespace: (now) => { const [h, p, s] = parts(now); return `${h}.${p} ${s}` },
  empty: () => ''
})

/** What of a token must never be seen: itself, its URL encoding, and each segment long enough to be its own. */
export function secretsOf (token: string): string[] {
  const segments = token.split('.').filter((s) => s.length >= 16)
  return [...new Set([token, encodeURIComponent(token), ...segments])].filter((s) => s.length > 0)
}
