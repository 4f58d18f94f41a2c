import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { b64url, claimsFor, generateKey, hmacToken, jwks, mintToken, segment, type TestKey } from '@wsguard/testing'
import type { AuthHandshakeOptions } from '../src/index.js'
import { buildApp, connect } from './helpers.js'

// Forgeries aimed at an app that verifies with its @fastify/jwt: each is refused with the code
// and the reason, and most before the app's key function is even asked.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const rsa = generateKey('RS256', 'rsa-1')
const pem = (key: TestKey): string => key.publicKey.export({ type: 'spki', format: 'pem' }) as string
const claims = (): Record<string, unknown> => claimsFor(ISS, AUD, 'mallory')

async function appWith (t: Test, opts: AuthHandshakeOptions, secret: unknown) {
  let lookups = 0
  const built = await buildApp(t, opts, {
    before: async (app: FastifyInstance) => {
      await app.register(fastifyJwt, {
        secret: typeof secret === 'function' ? secret : async () => { lookups++; return secret }
      } as never)
    }
  })
  const attempt = async (token: string) => {
    const res = await connect(t, built.url, { headers: { authorization: `Bearer ${token}` } })
    return { open: res.open, code: res.open ? undefined : JSON.parse(res.body).code, challenge: res.open ? undefined : res.headers['www-authenticate'] }
  }
  return { ...built, attempt, lookups: () => lookups }
}

t.test('alg confusion: an HS256 token whose HMAC secret is the RSA public key', async (t) => {
  const forged = hmacToken({ alg: 'HS256', typ: 'JWT' }, claims(), pem(rsa))
  // Issuer configured for RS256: refused before @fastify/jwt is asked.
  const rs = await appWith(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['RS256'], fastifyJwt: true } }, pem(rsa))
  t.match(await rs.attempt(forged), { open: false, code: 'WSG_TOKEN_INVALID', challenge: /The token algorithm is not accepted/ })
  t.equal(rs.lookups(), 0, 'the key function was never asked')
  t.equal((await rs.attempt(mintToken(rsa, claims()))).open, true, 'the same app accepts a real RS256 token')
  // An app that opted in to HMAC while its @fastify/jwt holds a public key: fast-jwt sees a
  // PEM public key and allows only RSA algorithms for it, so the forgery still fails.
  const misconfigured = await appWith(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['HS256'], fastifyJwt: true, allowHmac: true } }, pem(rsa))
  t.match(await misconfigured.attempt(forged), { open: false, code: 'WSG_TOKEN_INVALID' })
})

t.test('alg none: unsigned, or "none" with a signature attached', async (t) => {
  const app = await appWith(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['RS256'], fastifyJwt: true } }, pem(rsa))
  const unsigned = `${segment({ alg: 'none', typ: 'JWT' })}.${segment(claims())}.`
  t.match(await app.attempt(unsigned), { code: 'WSG_TOKEN_INVALID', challenge: /The token is malformed/ })
  const signedNone = `${segment({ alg: 'none' })}.${segment(claims())}.${b64url('sig')}`
  t.match(await app.attempt(signedNone), { code: 'WSG_TOKEN_INVALID', challenge: /The token algorithm is not accepted/ })
  for (const alg of ['None', 'NONE', 'nOnE']) {
    t.match(await app.attempt(mintToken(rsa, claims(), { header: { alg } })), { code: 'WSG_TOKEN_INVALID' }, alg)
  }
  t.equal(app.lookups(), 0, 'the key function was never asked')
})

t.test('kid games: malformed kids and keys the header names or carries never reach the key function', async (t) => {
  const app = await appWith(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['RS256'], fastifyJwt: true } }, pem(rsa))
  const headers: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a kid too long', { kid: 'k'.repeat(257) }, /key id is malformed/],
    ['a kid with a control character', { kid: 'a\nb' }, /key id is malformed/],
    ['a kid that is not a string', { kid: { $ne: null } }, /key id is malformed/],
    ['a key URL (jku)', { jku: 'https://evil.test/jwks' }, /names or carries a key/],
    ['an embedded key (jwk)', { jwk: generateKey('RS256').publicJwk }, /names or carries a key/],
    ['a certificate URL (x5u)', { x5u: 'https://evil.test/cert.pem' }, /names or carries a key/],
    ['a critical extension', { crit: ['exp'] }, /unsupported critical header/]
  ]
  for (const [name, header, description] of headers) {
    // Signed with the real key: only the header is the attack.
    t.match(await app.attempt(mintToken(rsa, claims(), { header })), { open: false, code: 'WSG_TOKEN_INVALID', challenge: description }, name)
  }
  t.equal(app.lookups(), 0, 'the key function was never asked')
  // A token naming another trusted issuer's key is verified with the key its own issuer's registration holds.
  const other = generateKey('RS256', 'rsa-1')
  t.match(await app.attempt(mintToken(other, claims())), { code: 'WSG_TOKEN_INVALID', challenge: /did not pass verification/ }, 'same kid, another key')
})

t.test('a token of an issuer wsguard trusts through its own key set is not verified by @fastify/jwt, and the other way round', async (t) => {
  const ec = generateKey('ES256', 'ec-1')
  const app = await appWith(t, {
    jwt: [
      { issuer: ISS, audience: AUD, algorithms: ['RS256'], fastifyJwt: true },
      { issuer: 'https://other.test', audience: AUD, algorithms: ['ES256'], jwks: jwks(ec) }
    ]
  }, pem(rsa))
  t.equal((await app.attempt(mintToken(ec, claimsFor('https://other.test', AUD, 'svc')))).open, true)
  t.match(await app.attempt(mintToken(ec, claims(), { header: { alg: 'RS256' } })), { code: 'WSG_TOKEN_INVALID' }, 'iss of the @fastify/jwt issuer, signed with the key-set issuer\'s key')
  t.match(await app.attempt(mintToken(rsa, claimsFor('https://other.test', AUD, 'svc'))), { code: 'WSG_TOKEN_INVALID' }, 'iss of the key-set issuer, signed with @fastify/jwt\'s key')
})
