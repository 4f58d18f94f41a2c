import t, { type Test } from 'tap'
import { generateKey, jwks, mintToken, claimsFor, b64url, type TestKey } from '@wsguard/testing'
import { buildApp, connect } from './helpers.js'

// Buffer.from(text, 'base64url') ignores the spare bits of the last character and a lone
// trailing character, so one token could be spelled several ways and still verify. Only
// the canonical spelling is accepted, in every segment.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const es256 = generateKey('ES256', 'ec-256')
const es384 = generateKey('ES384', 'ec-384')
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const MALFORMED = 'Bearer realm="wsguard", error="invalid_token", error_description="The token is malformed"'

/** The same bytes, spelled with the lowest spare bit of the last character set. */
const sibling = (text: string): string => text.slice(0, -1) + ALPHABET[ALPHABET.indexOf(text.slice(-1)) ^ 1]
const decoded = (text: string): Buffer => Buffer.from(text, 'base64url')

/** A token whose header or claims segment does not end on a 4-character boundary. */
function unalignedToken (key: TestKey, where: 'header' | 'payload'): string {
  for (let pad = 0; ; pad++) {
    const extra = { x: 'p'.repeat(pad) }
    const token = where === 'header'
      ? mintToken(key, claimsFor(ISS, AUD, 'alice'), { header: extra })
      : mintToken(key, { ...claimsFor(ISS, AUD, 'alice'), ...extra })
    if ((token.split('.')[where === 'header' ? 0 : 1] as string).length % 4 !== 0) return token
  }
}

async function app (t: Test): Promise<string> {
  const jwt = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const, 'ES384' as const], jwks: jwks(es256, es384) }
  const { url } = await buildApp(t, { jwt })
  return url
}

const opens = async (t: Test, url: string, token: string): Promise<boolean> =>
  (await connect(t, url, { headers: { authorization: `Bearer ${token}` } })).open

async function refusedAsMalformed (t: Test, url: string, token: string, name: string): Promise<void> {
  const res = await connect(t, url, { headers: { authorization: `Bearer ${token}` } })
  t.equal(!res.open && res.status, 401, `${name}: 401`)
  t.equal(!res.open && JSON.parse(res.body).code, 'WSG_TOKEN_INVALID', `${name}: WSG_TOKEN_INVALID`)
  t.equal(!res.open && res.headers['www-authenticate'], MALFORMED, `${name}: refused as malformed, before signature work`)
}

t.test('a sibling spelling of a valid token is refused in every segment', async (t) => {
  const url = await app(t)
  const valid = mintToken(es256, claimsFor(ISS, AUD, 'alice'))
  t.equal(await opens(t, url, valid), true, 'the token itself opens')

  const [h, p, s] = valid.split('.') as [string, string, string]
  t.equal(s.length % 4, 2, 'an ES256 signature leaves 4 spare bits')
  t.same(decoded(sibling(s)), decoded(s), 'the sibling signature is the same bytes')
  await refusedAsMalformed(t, url, `${h}.${p}.${sibling(s)}`, 'signature sibling')

  const p384 = mintToken(es384, claimsFor(ISS, AUD, 'alice'))
  const s384 = p384.split('.')[2] as string
  t.equal(s384.length % 4, 0, 'an ES384 signature fills its last quantum')
  t.same(decoded(`${s384}A`), decoded(s384), 'a lone trailing character adds no byte')
  t.equal(await opens(t, url, p384), true, 'the ES384 token itself opens')
  await refusedAsMalformed(t, url, `${p384}A`, 'signature with a lone trailing character')

  for (const where of ['header', 'payload'] as const) {
    const token = unalignedToken(es256, where)
    t.equal(await opens(t, url, token), true, `the ${where}-padded token opens`)
    const parts = token.split('.')
    const i = where === 'header' ? 0 : 1
    t.same(decoded(sibling(parts[i] as string)), decoded(parts[i] as string), `the ${where} sibling is the same bytes`)
    parts[i] = sibling(parts[i] as string)
    await refusedAsMalformed(t, url, parts.join('.'), `${where} sibling`)
    const lone = token.split('.')
    lone[i] = `${lone[i] as string}${'A'.repeat((5 - (lone[i] as string).length % 4) % 4)}`
    await refusedAsMalformed(t, url, lone.join('.'), `${where} with a length that ends on a lone character`)
  }
})

// JOSE (RFC 7518 §3.4) does not ask for low S, and ordinary ECDSA signers produce a high S
// about half the time: both S values of one signature verify, which is right.
const P256_N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551')

t.test('ES256 signatures verify with a high S and with a low S', async (t) => {
  const url = await app(t)
  const token = mintToken(es256, claimsFor(ISS, AUD, 'alice'))
  const [h, p, sig] = token.split('.') as [string, string, string]
  const bytes = decoded(sig)
  const s = BigInt(`0x${bytes.subarray(32).toString('hex')}`)
  const other = P256_N - s
  const otherS = Buffer.from(other.toString(16).padStart(64, '0'), 'hex')
  const twin = `${h}.${p}.${b64url(Buffer.concat([bytes.subarray(0, 32), otherS]))}`
  t.not(twin, token, 'another signature of the same claims')
  t.equal((s > P256_N / 2n) !== (other > P256_N / 2n), true, 'one of the two S values is high')
  for (const [name, tok] of [['the signer\'s S', token], ['n - S', twin]]) {
    t.equal(await opens(t, url, tok), true, `${name} verifies`)
  }
})

t.test('segments of any size decode alike: a claims segment larger than the decode buffer, then small ones', async (t) => {
  const { decodeToken } = await import('../src/decode.js')
  const large = { ...claimsFor(ISS, AUD, 'alice'), note: 'é'.repeat(2000) }
  const big = decodeToken(mintToken(es256, large))
  t.same(big?.payload, large, 'a 4 KB segment: the buffer grows')
  t.same(decodeToken(mintToken(es256, claimsFor(ISS, AUD, 'bob')))?.payload.sub, 'bob', 'then a small one still decodes')
  const url = await app(t)
  t.equal(await opens(t, url, mintToken(es256, large)), true, 'and such a token verifies (within maxTokenBytes)')
})
