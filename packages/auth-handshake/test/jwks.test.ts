import t, { type Test } from 'tap'
import { generateKey, jwks, mintToken, claimsFor, startJwksServer, FakeClock, type JwksServer } from '@wsguard/testing'
import type { JwtKeySetIssuerOptions } from '../src/index.js'
import { buildApp, connect } from './helpers.js'

const AUD = 'feed-api'
const key = generateKey('ES256', 'k1')

async function setup (t: Test, issuerOptions: Partial<JwtKeySetIssuerOptions> = {}, keys = jwks(key)): Promise<{ idp: JwksServer, clock: FakeClock, url: string, logs: { text(): string }, token: (k?: typeof key, extra?: Record<string, unknown>) => string }> {
  const idp = await startJwksServer(keys)
  t.teardown(() => idp.close())
  const clock = new FakeClock()
  const { url, logs } = await buildApp(t, {
    jwt: { issuer: idp.issuer, audience: AUD, algorithms: ['ES256', 'RS256'], discovery: true, ...issuerOptions },
    clock
  })
  const token = (k = key, extra = {}): string => mintToken(k, { ...claimsFor(idp.issuer, AUD, 'alice', clock.now()), ...extra })
  return { idp, clock, url, logs, token }
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

t.test('discovery finds the key set once, and every later handshake uses the cached keys', async (t) => {
  const { idp, url, token } = await setup(t)
  for (let i = 0; i < 3; i++) t.equal((await connect(t, url, bearer(token()))).open, true)
  t.equal(idp.hits.discovery, 1)
  t.equal(idp.hits.jwks, 1)
})

t.test('unknown kids: one fetch at a time, then none until the cooldown has passed', async (t) => {
  const { idp, clock, url, token } = await setup(t)
  t.equal((await connect(t, url, bearer(token()))).open, true)
  const stranger = generateKey('ES256')
  clock.advance(30_001)
  const attempts = await Promise.all(Array.from({ length: 20 }, () => connect(t, url, bearer(token(stranger)))))
  t.ok(attempts.every((a) => !a.open && a.status === 401), 'all refused')
  t.equal(idp.hits.jwks, 2, '20 unknown-kid tokens at once made one fetch')
  for (let i = 0; i < 5; i++) await connect(t, url, bearer(token(generateKey('ES256'))))
  t.equal(idp.hits.jwks, 2, 'no fetch within the cooldown')
  clock.advance(30_001)
  await connect(t, url, bearer(token(stranger)))
  t.equal(idp.hits.jwks, 3, 'one more fetch once the cooldown passed')
})

t.test('a rotated key is picked up without a restart', async (t) => {
  const { idp, clock, url, token } = await setup(t, { jwksCooldownMs: 1000 })
  t.equal((await connect(t, url, bearer(token()))).open, true)
  const next = generateKey('ES256', 'k2')
  idp.setKeys(jwks(next))
  clock.advance(1001)
  t.equal((await connect(t, url, bearer(token(next)))).open, true, 'new key accepted')
  const old = await connect(t, url, bearer(token()))
  t.equal(old.open, false, 'the retired key is refused')
  t.equal(!old.open && old.status, 401)
})

t.test('a key set older than jwksMaxAgeMs is refreshed in the background', async (t) => {
  const { idp, clock, url, token } = await setup(t, { jwksMaxAgeMs: 60_000 })
  t.equal((await connect(t, url, bearer(token()))).open, true)
  clock.advance(60_001)
  t.equal((await connect(t, url, bearer(token()))).open, true, 'served from the cached keys meanwhile')
  t.equal(idp.hits.jwks, 2)
})

t.test('an IdP that is down: 503 with Retry-After, no hammering, recovery after the cooldown', async (t) => {
  const idp = await startJwksServer(jwks(key))
  t.teardown(() => idp.close())
  idp.failWith(500)
  const clock = new FakeClock()
  const { url, logs } = await buildApp(t, { jwt: { issuer: idp.issuer, audience: AUD, algorithms: ['ES256'], jwksUri: idp.jwksUri }, clock })
  const token = mintToken(key, claimsFor(idp.issuer, AUD, 'alice', clock.now()))
  for (let i = 0; i < 3; i++) {
    const res = await connect(t, url, bearer(token))
    t.equal(res.open, false)
    if (!res.open) {
      t.equal(res.status, 503)
      t.equal(JSON.parse(res.body).code, 'WSG_UNAVAILABLE')
      t.equal(res.headers['retry-after'], '30', 'come back after the key-set cooldown')
    }
  }
  t.ok(idp.hits.jwks === 0, 'failures are not counted as served key sets')
  t.match(logs.text(), /could not fetch the issuer's keys/)
  idp.failWith(undefined)
  t.equal((await connect(t, url, bearer(token))).open, false, 'still within the cooldown')
  clock.advance(30_001)
  t.equal((await connect(t, url, bearer(token))).open, true, 'recovered')
  t.equal(idp.hits.jwks, 1)
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})

const brokenDocuments: Array<[string, (idp: JwksServer) => void]> = [
  ['a discovery document naming another issuer', (idp) => idp.setDiscovery({ issuer: 'https://evil.test', jwks_uri: idp.jwksUri })],
  ['a discovery document without jwks_uri', (idp) => idp.setDiscovery({ issuer: idp.issuer })],
  ['a jwks_uri that is not https', (idp) => idp.setDiscovery({ issuer: idp.issuer, jwks_uri: 'http://idp.example/jwks' })],
  ['a key set without keys', (idp) => idp.setKeys({ nope: true } as never)],
  ['a document that is not JSON', (idp) => idp.failWith(200, 'not json')],
  ['an answer without a body (204)', (idp) => idp.failWith(204)],
  ['a document that is a JSON array', (idp) => idp.failWith(200, '[]')],
  ['a document declared too large', (idp) => idp.failWith(200, '{}', { 'content-length': String(600 * 1024) })],
  ['a document too large', (idp) => idp.failWith(200, JSON.stringify({ keys: [], pad: 'x'.repeat(600 * 1024) }))]
]

for (const [name, breakIt] of brokenDocuments) {
  t.test(`keys unavailable on ${name}`, async (t) => {
    const idp = await startJwksServer(jwks(key))
    t.teardown(() => idp.close())
    breakIt(idp)
    const { url, logs } = await buildApp(t, { jwt: { issuer: idp.issuer, audience: AUD, algorithms: ['ES256'], discovery: true } })
    const res = await connect(t, url, bearer(mintToken(key, claimsFor(idp.issuer, AUD, 'alice'))))
    t.equal(!res.open && res.status, 503)
    t.match(logs.text(), /could not fetch the issuer's keys/)
  })
}

t.test('which keys of a set are used', async (t) => {
  const rsaSmall = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 })
  const small = { ...generateKey('RS256', 'small'), privateKey: rsaSmall.privateKey }
  const smallJwk = { ...rsaSmall.publicKey.export({ format: 'jwk' }), kid: 'small', alg: 'RS256' }
  const noKid = generateKey('ES256')
  const noKidJwk = { ...noKid.publicJwk, kid: undefined }
  const enc = generateKey('ES256', 'enc')
  const wrongAlg = generateKey('ES256', 'wrong-alg')
  const broken = generateKey('ES256', 'broken')
  const ed = generateKey('EdDSA', 'ed')
  const keys = {
    keys: [
      smallJwk, noKidJwk,
      { ...enc.publicJwk, use: 'enc' },
      { ...wrongAlg.publicJwk, alg: 'HS256' },
      { ...broken.publicJwk, x: 'AAAA' },
      ed.publicJwk,
      'not an object'
    ]
  }
  const { url, token } = await setup(t, {}, keys as never)
  const code = async (tok: string): Promise<number | true> => {
    const res = await connect(t, url, bearer(tok))
    return res.open ? true : res.status
  }
  t.equal(await code(token(noKid, {}).replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg: 'ES256' })).toString('base64url'))), 401, 'header rewritten breaks the signature')
  t.equal(await code(mintToken(noKid, { ...claimsFor('https://unknown.test', AUD, 'x') }, { header: { kid: undefined } })), 401, 'wrong issuer')
  t.equal(await code(token(noKid)), 401, 'a kid that is not in the set')
  t.equal(await code(mintTokenNoKid(noKid, token)), true, 'the one kid-less key is used for a kid-less token')
  t.equal(await code(token(small)), 401, 'RSA keys under 2048 bits are ignored')
  t.equal(await code(token(enc)), 401, 'encryption keys are ignored')
  t.equal(await code(token(wrongAlg)), 401, 'keys with a foreign alg are ignored')
  t.equal(await code(token(broken)), 401, 'malformed keys are ignored')
  t.equal(await code(token(ed)), 401, 'keys of algorithms the issuer does not accept are ignored')
})

t.test('two kid-less keys that fit are ambiguous', async (t) => {
  const a = generateKey('ES256')
  const b = generateKey('ES256')
  const { url, token } = await setup(t, {}, { keys: [{ ...a.publicJwk, kid: undefined }, { ...b.publicJwk, kid: undefined }] })
  const res = await connect(t, url, bearer(mintTokenNoKid(a, token)))
  t.equal(!res.open && res.status, 401)
})

/** Re-signs the standard test token without a kid header. */
function mintTokenNoKid (k: typeof key, token: (k?: typeof key, extra?: Record<string, unknown>) => string): string {
  const claims = JSON.parse(Buffer.from(token(k).split('.')[1] as string, 'base64url').toString())
  return mintToken(k, claims, { header: { kid: undefined } })
}
