// Gaps this suite found in the plugins after the hardening findings, now fixed: a Bearer
// token hidden behind a first Authorization header of another scheme, and upgrades to URLs no
// route matches taken for routes added before a plugin.
import t from 'tap'
import { ALLOWED_ORIGIN } from './carriers.js'
import { handshake } from './client.js'
import { exchange, UPGRADE_HEADERS } from './raw-http.js'
import { securityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

t.test('a Bearer token in a second Authorization header is seen: two credentials, not the cookie alone', async (t) => {
  const server = await securityServer(t)
  const alice = sign(ec, claims(server.clock.now()))
  const bob = sign(ec, claims(server.clock.now(), { sub: 'bob' }))
  // A proxy that reads the last Authorization header sees bob; the socket would be alice's.
  const answer = await handshake(server.url(server.feed), {
    origin: ALLOWED_ORIGIN,
    authorization: ['Basic dXNlcjpwYXNz', `Bearer ${bob}`],
    cookie: `access_token=${alice}`
  }, (fn) => t.teardown(fn))
  t.equal(answer.status, 400, 'refused before the upgrade')
  t.match(answer.body, /"code":"WSG_AMBIGUOUS_CREDENTIAL"/, 'two credentials')
})

t.test('an upgrade to a URL no route matches is a 404, not a websocket route "added before the plugin"', async (t) => {
  const server = await securityServer(t)
  const answer = await exchange(server.port, `GET /no/such/route HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}\r\n`, 5000)
  t.equal(answer.status, 404, 'not found')
  t.notMatch(answer.bytes.toString(), /WSG_UNAVAILABLE/, 'no 503 WSG_UNAVAILABLE')
  const misread = server.logs.lines.filter((l) => l.includes('websocket route undefined was added before the plugin'))
  t.same(misread, [], 'no error line about a route "undefined"')
  const metrics = await server.app.inject('/metrics')
  t.notMatch(metrics.body, /route="undefined"/, 'no metric series for a route "undefined"')
})
