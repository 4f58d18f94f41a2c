// Found by session 22's review: a key-set URL with a user and password (basic auth in front of
// a JWKS) passed registration; every fetch then failed with undici's "Request cannot be
// constructed from a URL that includes credentials: <the whole URL>", and the warning logged
// that message, password and query included. Such a URL is now refused where it is configured,
// refused where a discovery document names it, and any URL in a logged failure is cut to its
// origin and path.
import t from 'tap'
import { claimsFor, generateKey, jwks, mintToken, startJwksServer } from '@wsguard/testing'
import { buildApp, connect } from './helpers.js'

const AUD = 'feed-api'
const key = generateKey('ES256')
const PASSWORD = 'jwks-basic-auth-S3cret'

t.test('a discovery document naming a jwks_uri with a password: 503, and the password is not logged', async (t) => {
  const idp = await startJwksServer(jwks(key))
  t.teardown(() => idp.close())
  const named = idp.jwksUri.replace('http://', `http://svc-account:${PASSWORD}@`)
  idp.setDiscovery({ issuer: idp.issuer, jwks_uri: `${named}?api_key=${PASSWORD}` })
  const { url, logs } = await buildApp(t, { jwt: { issuer: idp.issuer, audience: AUD, algorithms: ['ES256'], discovery: true } })
  const res = await connect(t, url, { headers: { authorization: `Bearer ${mintToken(key, claimsFor(idp.issuer, AUD, 'alice'))}` } })
  t.equal(!res.open && res.status, 503, 'the keys cannot be fetched')
  t.match(logs.text(), /could not fetch the issuer's keys/)
  t.match(logs.text(), /jwks_uri carries a user or password/, 'the warning says why')
  t.notOk(logs.text().includes(PASSWORD), 'the password is in no log line')
  t.equal(idp.hits.jwks, 0, 'nothing was fetched from it')
})

// Session 22's second review: a password may hold a quote, a space or `>` (a URL in a message
// need not be encoded), where the first cut stopped, logging the rest of the password.
t.test('describeFailure: no part of a URL\'s user or password is logged, whatever it holds', async (t) => {
  const { describeFailure } = await import('../src/failures.js')
  for (const url of ["https://svc:Xq7'Rk29mZ@idp.test/jwks", 'https://svc:Xq7 Rk29mZ@idp.test/jwks', 'https://svc:Xq7>Rk29mZ@idp.test/jwks', 'https://svc:a@b"Rk29mZ@idp.test/jwks']) {
    const { message } = describeFailure(new Error('key function failed', { cause: new TypeError(`Request cannot be constructed from a URL that includes credentials: ${url}`) }))
    t.equal(message, 'key function failed: Request cannot be constructed from a URL that includes credentials: https://idp.test/jwks', url)
  }
})

t.test('an issuer that is no URL has no user or password to refuse', async (t) => {
  const { noUserinfo } = await import('../src/option-checks.js')
  t.doesNotThrow(() => { noUserinfo('tenant-a', 'opts.jwt.issuer') })
  t.throws(() => { noUserinfo('https://u@idp.test', 'opts.jwt.issuer') }, { code: 'WSG_INVALID_OPTION' })
})
