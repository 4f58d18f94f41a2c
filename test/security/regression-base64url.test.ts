// Hardening: base64url segments with non-zero spare bits decode to the same bytes, so a token
// could be re-encoded (a second text for one token: caches, revocation lists, logs keyed by
// the text disagree) and still pass. Each segment must be canonical now; the token signed over
// a non-canonical header or payload is refused too. An ECDSA signature with a high S stays
// valid: JWS (RFC 7518 §3.4) does not ask for low S.
import t from 'tap'
import { ALLOWED_ORIGIN } from './carriers.js'
import { handshake } from './client.js'
import { securityServer } from './server.js'
import { RECIPES } from './tokens.js'

const ROWS: Array<[string, number, string | undefined]> = [
  ['non-canonical-header', 401, 'WSG_TOKEN_INVALID'],
  ['non-canonical-payload', 401, 'WSG_TOKEN_INVALID'],
  ['non-canonical-signature', 401, 'WSG_TOKEN_INVALID'],
  ['high-s', 101, undefined]
]

t.test('non-canonical base64url is refused, a high-S signature is not', async (t) => {
  const server = await securityServer(t)
  for (const [recipe, status, code] of ROWS) {
    const token = (RECIPES[recipe] as (now: number) => string)(server.clock.now())
    const answer = await handshake(server.url(server.feed), { origin: ALLOWED_ORIGIN, authorization: `Bearer ${token}` }, (fn) => t.teardown(fn))
    t.equal(answer.status, status, `${recipe}: status`)
    if (code !== undefined) t.match(answer.body, `"code":"${code}"`, `${recipe}: code`)
  }
})
