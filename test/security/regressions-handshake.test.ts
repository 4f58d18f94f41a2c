// Regression tests of the hardening issue that concern the handshake, end to end with all
// four plugins, written against the intended behaviour while the fixes come from other
// branches (each section says what broke). Findings 4 and 8 are in regressions-resources.test.ts.
import t from 'tap'
import { jwks, startJwksServer, until } from '@wsguard/testing'
import { ALLOWED_ORIGIN } from './carriers.js'
import { handshake } from './client.js'
import { leaked } from './leaks.js'
import { exchange } from './raw-http.js'
import { securityServer } from './server.js'
import { claims, ec, RECIPES, rsa, secretsOf, sign } from './tokens.js'

// Hardening finding 5: a plain GET or HEAD (no Upgrade) to a websocket route carrying a token
// ran auth-handshake's verification each, around telemetry's storm gate (which counts
// handshakes). Now they are refused before any token work: a websocket route answers a
// request that is not an upgrade 404 (@fastify/websocket), and no wsguard plugin reads its
// credential, so a flood of them costs no key lookup and no signature.
const EACH = 10 // GETs, and as many HEADs
const GATE = { max: 5, windowMs: 60_000 }

const plain = (method: string, path: string, token: string): string => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
  `Origin: ${ALLOWED_ORIGIN}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`

t.test('plain GET and HEAD requests with a token, to a websocket route', async (t) => {
  const idp = await startJwksServer(jwks(ec, rsa))
  t.teardown(() => idp.close())
  // No cooldown: every token naming an unknown key makes the server fetch the key set, so the
  // fetches count the tokens that reached key lookup (the step before the signature).
  const server = await securityServer(t, {
    jwt: { jwksUri: idp.jwksUri, jwksCooldownMs: 0 },
    telemetry: { anomalies: { reconnectStorm: { perIp: GATE, action: 'throttle' } } }
  })
  await until(() => idp.hits.jwks === 1, 'the key set was loaded at start')
  const unknownKid = sign(ec, claims(server.clock.now()), { kid: 'rotated-away' })
  const valid = sign(ec, claims(server.clock.now()))
  const rejected = async (): Promise<number> => {
    const json = await server.app.wsguardTelemetry.registry?.getMetricsAsJSON() ?? []
    const handshakes = json.find((m) => m.name === 'wsguard_handshakes_total')?.values ?? []
    return handshakes.filter((v) => v.labels.outcome === 'rejected').reduce((n, v) => n + v.value, 0)
  }

  const first: number[] = []
  for (const method of ['GET', 'HEAD']) {
    for (let i = 0; i < EACH; i++) {
      first.push((await exchange(server.port, plain(method, server.feed, unknownKid), 5000)).status)
    }
  }
  t.comment(`answers to plain requests naming an unknown key: ${first.join(' ')}`)
  t.equal(idp.hits.jwks, 1, `no key lookup for ${2 * EACH} plain requests (key-set fetches: ${idp.hits.jwks - 1})`)

  // Plain requests with a token that would pass every check: refused all the same, before any token work.
  const second: number[] = []
  for (const method of ['GET', 'HEAD']) {
    for (let i = 0; i < EACH; i++) second.push((await exchange(server.port, plain(method, server.feed, valid), 5000)).status)
  }
  t.comment(`answers to plain requests with a valid token: ${second.join(' ')}`)
  t.same(second, Array.from({ length: 2 * EACH }, () => 404), 'each is refused 404, as a websocket route answers a request that is not an upgrade')
  t.equal(idp.hits.jwks, 1, 'still no key lookup')
  t.equal(await rejected(), 0, 'and none is mistaken for a refused handshake')
})

// Hardening finding 6: on a websocket route with `config.auth: false`, auth-handshake set no
// redacting serializer (a query token was logged in clear) and stripped no `bearer.` entry
// (ws selected the first one offered and echoed the token in the 101). Both hold now, on an
// app that relies on the plugin's redaction alone (no serializer of its own).
t.test('a websocket route with config.auth: false keeps tokens out of logs and out of the 101', async (t) => {
  const server = await securityServer(t, {
    appReqSerializer: false,
    routes: (app) => app.get('/open', { websocket: true, config: { auth: false } }, (socket) => socket.send('open'))
  })
  const token = sign(ec, claims(server.clock.now()))
  const offers = [`bearer.${token}, app.v1`, `bearer.${token}`]
  for (const offer of offers) {
    const headers = { origin: ALLOWED_ORIGIN, 'sec-websocket-protocol': offer }
    const answer = await handshake(server.url(`/open?access_token=${token}`), headers, (fn) => t.teardown(fn))
    const label = offer.startsWith('bearer.') && offer.includes(',') ? 'bearer entry first' : 'bearer entry alone'
    const selected = String(answer.headers['sec-websocket-protocol'])
    t.notMatch(selected, /^bearer\./i, `${label}: the answer (${answer.status}) selects no bearer. entry`)
    const sent = answer.body + JSON.stringify(answer.headers)
    t.same(leaked(sent, secretsOf(token)), [], `${label}: the token is not in the answer`)
  }
  const requests = server.logs.lines.filter((l) => l.includes('"msg":"incoming request"') && l.includes('/open'))
  t.equal(requests.length, offers.length, 'each handshake logged its request line')
  t.ok(requests.every((l) => l.includes('access_token=[REDACTED]')), 'the query token is logged [REDACTED]')
  t.same(leaked(server.logs.text(), secretsOf(token)), [], 'and is in no log line')
})

// Hardening finding 7: scopes were read from a `scope` string or an `scp` array only, so a
// token carrying its scopes as a `scope` array or an `scp` string had none, and passed
// `allowedScopes` however much it held. Every shape is read now; one that cannot be read is
// an invalid token.
interface Row { name: string, scopes: Record<string, unknown>, path: string, status: number, code?: string }
const ONLY = '/allowed-only' // a route with allowedScopes and no required scope
const FEED = '/ws/acme' // the suite's route: feed:read required
const OVER = 'WSG_OVERSCOPED_TOKEN'

const ADMIN = ['feed:read', 'admin']
// `scope: undefined` drops the suite's default `scope: 'feed:read'` from the claims
const ROWS: Row[] = [
  { name: '`scope` array beyond allowedScopes', scopes: { scope: ADMIN }, path: ONLY, status: 403, code: OVER },
  { name: '`scp` string beyond allowedScopes', scopes: { scope: undefined, scp: 'feed:read admin' }, path: ONLY, status: 403, code: OVER },
  { name: '`scope` object', scopes: { scope: { admin: true } }, path: ONLY, status: 401, code: 'WSG_TOKEN_INVALID' },
  { name: '`scope` array beyond, where feed:read is required', scopes: { scope: ADMIN }, path: FEED, status: 403, code: OVER },
  { name: '`scope` array within', scopes: { scope: ['feed:read'] }, path: FEED, status: 101 },
  { name: '`scp` string within', scopes: { scope: undefined, scp: 'feed:read' }, path: FEED, status: 101 },
  // the shapes that were read before, unchanged
  { name: '`scope` string beyond allowedScopes', scopes: { scope: ADMIN.join(' ') }, path: ONLY, status: 403, code: OVER },
  { name: '`scp` array beyond allowedScopes', scopes: { scope: undefined, scp: ADMIN }, path: ONLY, status: 403, code: OVER },
  { name: '`scope` string within', scopes: { scope: 'feed:read' }, path: ONLY, status: 101 }
]

t.test('scopes in every shape are held to allowedScopes', async (t) => {
  const server = await securityServer(t, {
    routes: (app) => {
      const config = { auth: { allowedScopes: ['feed:read', 'feed:write'] } }
      app.get(ONLY, { websocket: true, config }, (socket) => socket.send('open'))
    }
  })
  for (const row of ROWS) {
    const token = sign(ec, claims(server.clock.now(), row.scopes))
    const answer = await server.bearer(t, token, row.path)
    t.equal(answer.status, row.status, `${row.name}: status`)
    if (row.code !== undefined) t.match(answer.body, `"code":"${row.code}"`, `${row.name}: code`)
  }
})

// Hardening: base64url segments with non-zero spare bits decode to the same bytes, so a token
// could be re-encoded (a second text for one token: caches, revocation lists, logs keyed by
// the text disagree) and still pass. Each segment must be canonical now; the token signed over
// a non-canonical header or payload is refused too. An ECDSA signature with a high S stays
// valid: JWS (RFC 7518 §3.4) does not ask for low S.
const ENCODINGS: Array<[string, number, string | undefined]> = [
  ['non-canonical-header', 401, 'WSG_TOKEN_INVALID'],
  ['non-canonical-payload', 401, 'WSG_TOKEN_INVALID'],
  ['non-canonical-signature', 401, 'WSG_TOKEN_INVALID'],
  ['high-s', 101, undefined]
]

t.test('non-canonical base64url is refused, a high-S signature is not', async (t) => {
  const server = await securityServer(t)
  for (const [recipe, status, code] of ENCODINGS) {
    const token = (RECIPES[recipe] as (now: number) => string)(server.clock.now())
    const answer = await server.bearer(t, token)
    t.equal(answer.status, status, `${recipe}: status`)
    if (code !== undefined) t.match(answer.body, `"code":"${code}"`, `${recipe}: code`)
  }
})
