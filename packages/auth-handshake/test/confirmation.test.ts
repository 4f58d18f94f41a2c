// Found by session 21's review: a DPoP-bound access token (RFC 9449: `cnf.jkt`, the thumbprint
// of the client's proof key) is sender-constrained, but only `cnf["x5t#S256"]` (RFC 8705) was
// read: a stolen DPoP-bound token opened a socket as a plain bearer token, with no proof at all.
// A token bound in a way this server cannot check is now refused as invalid.
import t from 'tap'
import { ChannelName, channel, type HandshakeRejectedMessage } from '@wsguard/core'
import { claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'
import { confirmationCheckable } from '../src/claims.js'
import { buildApp, connect } from './helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')

t.test('a token bound to a key this server cannot check is refused 401, however its cnf is spelled', async (t) => {
  const rejected: HandshakeRejectedMessage[] = []
  const onRejected = (m: unknown): void => { rejected.push(m as HandshakeRejectedMessage) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))
  const { url } = await buildApp(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } })
  const cases: Array<[string, unknown]> = [
    ['DPoP (jkt)', { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' }],
    ['a public key (jwk)', { jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' } }],
    ['a key id (kid)', { kid: 'k1' }],
    ['a thumbprint beside a key we cannot check', { 'x5t#S256': 'abc', jkt: 'def' }],
    ['a string', 'jkt'],
    ['an array', [{ jkt: 'a' }]],
    ['null', null]
  ]
  for (const [name, cnf] of cases) {
    const res = await connect(t, url, { headers: { authorization: `Bearer ${mintToken(key, { ...claimsFor(ISS, AUD, 'alice'), cnf })}` } })
    if (res.open) {
      t.fail(`${name}: opened`)
      continue
    }
    t.equal(res.status, 401, name)
    t.match(JSON.parse(res.body), { code: 'WSG_TOKEN_INVALID' })
    t.match(res.headers['www-authenticate'], /error="invalid_token", error_description="The token is bound to a key this server cannot check"/)
  }
  t.ok(rejected.length === cases.length && rejected.every((m) => m.detail === 'confirmation'), 'published with the fault as detail')
  const unbound = await connect(t, url, { headers: { authorization: `Bearer ${mintToken(key, { ...claimsFor(ISS, AUD, 'alice'), cnf: {} })}` } })
  t.ok(unbound.open, 'an empty cnf binds to nothing: a bearer token')
})

t.test('confirmationCheckable: none, or a certificate thumbprint only', async (t) => {
  t.ok(confirmationCheckable(undefined))
  t.ok(confirmationCheckable({}))
  t.ok(confirmationCheckable({ 'x5t#S256': 'abc' }))
  t.notOk(confirmationCheckable({ jkt: 'abc' }))
  t.notOk(confirmationCheckable(JSON.parse('{"__proto__": {"jkt": "a"}}')), 'a __proto__ member is a member like any other')
  t.notOk(confirmationCheckable('x5t#S256'))
})
