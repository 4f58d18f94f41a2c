import t from 'tap'
import { generateKey, jwks, mintToken, hmacToken, claimsFor, segment, b64url, startJwksServer } from '@wsguard/testing'
import { buildApp, connect, type ConnectOptions } from './helpers.js'

// One app trusting one issuer with RSA, EC and Ed25519 keys; every row is an attack or a
// broken token, and every row checks status, code, challenge, and that the credential
// shows up in no response byte and no log line.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const rsa = generateKey('RS256', 'rsa-1')
const ec = generateKey('ES256', 'ec-1')
const ed = generateKey('EdDSA', 'ed-1')
const attacker = generateKey('ES256', 'ec-1')

const now = Date.now()
const good = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...claimsFor(ISS, AUD, 'alice', now), scope: 'feed:read', ...extra })
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string
const valid = mintToken(ec, good())
const [h, p, s] = valid.split('.') as [string, string, string]
const without = (name: string): Record<string, unknown> => { const c = good(); delete c[name]; return c }

interface Row {
  name: string
  token?: string
  request?: (token: string) => ConnectOptions
  status: number
  code: string
  bearer?: string
}

const bearer = (token: string): ConnectOptions => ({ headers: { authorization: `Bearer ${token}` } })

t.test('attack table', async (t) => {
  const evil = await startJwksServer(jwks(attacker))
  t.teardown(() => evil.close())

  const rows: Row[] = [
    ...['none', 'None', 'NONE', 'nOnE'].map((alg) => ({
      name: `alg ${alg} with an empty signature`, token: `${segment({ alg, typ: 'JWT' })}.${segment(good())}.`, status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token'
    })),
    ...['none', 'NONE'].map((alg) => ({
      name: `alg ${alg} with a copied signature`, token: `${segment({ alg, kid: 'ec-1' })}.${segment(good())}.${s}`, status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token'
    })),
    { name: 'HS256 keyed with the RSA public key', token: hmacToken({ alg: 'HS256', kid: 'rsa-1' }, good(), rsaPem), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'HS256 keyed with the RSA public JWK text', token: hmacToken({ alg: 'HS256' }, good(), JSON.stringify(rsa.publicJwk)), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'jku pointing at the attacker\'s key set', token: mintToken(attacker, good(), { header: { kid: 'evil', jku: evil.jwksUri } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'x5u pointing at the attacker', token: mintToken(attacker, good(), { header: { kid: 'evil', x5u: `${evil.issuer}/cert.pem` } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'embedded jwk with a known kid', token: mintToken(attacker, good(), { header: { jwk: attacker.publicJwk } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'embedded jwk without kid', token: mintToken(attacker, good(), { header: { kid: undefined, jwk: attacker.publicJwk } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'kid path traversal', token: mintToken(ec, good(), { header: { kid: '../../../../dev/null' } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'kid that is not a string', token: mintToken(ec, good(), { header: { kid: { $ne: null } } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'stripped signature', token: `${h}.${p}.`, status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'tampered signature', token: `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`, status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'tampered claims', token: `${h}.${segment(good({ sub: 'root' }))}.${s}`, status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'ES256 r=s=0', token: `${h}.${p}.${b64url(Buffer.alloc(64))}`, status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'RS256 header on the EC key', token: mintToken(rsa, good(), { header: { kid: 'ec-1' } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'unknown crit', token: mintToken(ec, good(), { header: { crit: ['x-magic'], 'x-magic': true } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'crit naming a standard header', token: mintToken(ec, good(), { header: { crit: ['exp'] } }), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'future iat', token: mintToken(ec, good({ iat: Math.floor(now / 1000) + 3600 })), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'future nbf', token: mintToken(ec, good({ nbf: Math.floor(now / 1000) + 3600 })), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'expired', token: mintToken(ec, good({ exp: Math.floor(now / 1000) - 10 })), status: 401, code: 'WSG_TOKEN_EXPIRED', bearer: 'invalid_token' },
    { name: 'missing exp', token: mintToken(ec, without('exp')), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'missing aud', token: mintToken(ec, without('aud')), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'missing sub', token: mintToken(ec, without('sub')), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'missing iss', token: mintToken(ec, without('iss')), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'wrong iss', token: mintToken(ec, good({ iss: 'https://evil.test' })), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'wrong aud', token: mintToken(ec, good({ aud: 'other-api' })), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'aud array without ours', token: mintToken(ec, good({ aud: ['a', 'b'] })), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'a 12 KB token', token: mintToken(ec, good({ pad: 'x'.repeat(8900) })), status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'not a JWS at all', token: 'bm90LWEtand0', status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'header that is not JSON', token: `${b64url('nope')}.${p}.${s}`, status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'claims that are a JSON array', token: `${h}.${segment([1, 2])}.${s}`, status: 401, code: 'WSG_TOKEN_INVALID', bearer: 'invalid_token' },
    { name: 'two credentials (header and subprotocol)', request: (tok) => ({ headers: { authorization: `Bearer ${tok}` }, protocols: ['app.v1', `bearer.${tok}`] }), status: 400, code: 'WSG_AMBIGUOUS_CREDENTIAL', bearer: 'invalid_request' },
    { name: 'two Authorization headers', request: (tok) => ({ headers: { authorization: [`Bearer ${tok}`, `Bearer ${tok}`] } }), status: 400, code: 'WSG_AMBIGUOUS_CREDENTIAL', bearer: 'invalid_request' },
    { name: 'two bearer subprotocols', request: (tok) => ({ protocols: [`bearer.${tok}`, `bearer.${tok}x`] }), status: 400, code: 'WSG_AMBIGUOUS_CREDENTIAL', bearer: 'invalid_request' },
    { name: 'a hostile Origin', request: (tok) => ({ ...bearer(tok), origin: 'https://evil.test' }), status: 403, code: 'WSG_ORIGIN_DENIED' },
    { name: 'the query carrier while off', request: (tok) => ({ path: `/feed?access_token=${tok}` }), status: 400, code: 'WSG_BAD_REQUEST', bearer: 'invalid_request' },
    { name: 'the query carrier while off, with a header token too', request: (tok) => ({ ...bearer(tok), path: `/feed?x=1&access_token=${tok}` }), status: 400, code: 'WSG_BAD_REQUEST', bearer: 'invalid_request' }
  ]

  const { url, logs } = await buildApp(t, {
    jwt: { issuer: ISS, audience: AUD, algorithms: ['RS256', 'ES256', 'EdDSA'], jwks: jwks(rsa, ec, ed) },
    allowedOrigins: ['https://app.test']
  })

  for (const row of rows) {
    const token = row.token ?? valid
    const res = await connect(t, url, row.request?.(token) ?? bearer(token))
    t.equal(res.open, false, `${row.name}: refused before the upgrade`)
    if (res.open) continue
    t.equal(res.status, row.status, `${row.name}: status`)
    const body = JSON.parse(res.body) as { code: string, statusCode: number, error: string, message: string }
    t.equal(body.code, row.code, `${row.name}: code`)
    t.equal(body.statusCode, row.status, `${row.name}: body statusCode`)
    if (row.bearer === undefined) {
      t.equal(res.headers['www-authenticate'], undefined, `${row.name}: no bearer challenge`)
    } else {
      t.match(res.headers['www-authenticate'], new RegExp(`^Bearer realm="wsguard", error="${row.bearer}", error_description="[^"]+"$`), `${row.name}: challenge`)
    }
    const everything = res.body + JSON.stringify(res.headers)
    t.notOk(everything.includes(token), `${row.name}: the token is not in the response`)
    t.notOk(everything.includes(p), `${row.name}: the claims segment is not in the response`)
  }
  t.equal(evil.hits.jwks, 0, 'a jku/x5u header never makes us fetch anything')
  t.ok(logs.lines.length > rows.length, 'requests were logged')
  const logText = logs.text()
  for (const row of rows) {
    t.notOk(logText.includes(row.token ?? valid), `${row.name}: the token is in no log line`)
  }
  t.notOk(logText.includes(p), 'the claims segment is in no log line')
  t.match(logText, /access_token=\[REDACTED\]/, 'the query parameter was logged redacted')
})

t.test('the valid token of the table is accepted (the table tests the checks, not a broken setup)', async (t) => {
  const { url } = await buildApp(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['RS256', 'ES256', 'EdDSA'], jwks: jwks(rsa, ec, ed) } })
  for (const key of [rsa, ec, ed]) {
    const res = await connect(t, url, bearer(mintToken(key, good())))
    t.equal(res.open, true, `${key.alg} accepted`)
  }
})

t.test('the oversized token of the table is about 12 KB', async (t) => {
  const big = mintToken(ec, good({ pad: 'x'.repeat(8900) }))
  t.ok(big.length > 12_000 && big.length < 12_500, `${big.length} bytes`)
})
