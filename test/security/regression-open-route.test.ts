// Hardening finding 6: on a websocket route with `config.auth: false`, auth-handshake set no
// redacting serializer (a query token was logged in clear) and stripped no `bearer.` entry
// (ws selected the first one offered and echoed the token in the 101). Both hold now, on an
// app that relies on the plugin's redaction alone (no serializer of its own).
import t from 'tap'
import { ALLOWED_ORIGIN } from './carriers.js'
import { handshake } from './client.js'
import { leaked } from './leaks.js'
import { securityServer } from './server.js'
import { claims, ec, secretsOf, sign } from './tokens.js'

t.test('a websocket route with config.auth: false keeps tokens out of logs and out of the 101', async (t) => {
  const server = await securityServer(t, {
    appReqSerializer: false,
    routes: (app) => app.get('/open', { websocket: true, config: { auth: false } }, (socket) => socket.send('open'))
  })
  const token = sign(ec, claims(server.clock.now()))
  const offers = [`bearer.${token}, app.v1`, `bearer.${token}`]
  for (const offer of offers) {
    const answer = await handshake(server.url(`/open?access_token=${token}`), { origin: ALLOWED_ORIGIN, 'sec-websocket-protocol': offer }, (fn) => t.teardown(fn))
    const label = offer.startsWith('bearer.') && offer.includes(',') ? 'bearer entry first' : 'bearer entry alone'
    t.notMatch(String(answer.headers['sec-websocket-protocol']), /^bearer\./i, `${label}: the answer (${answer.status}) selects no bearer. entry`)
    t.same(leaked(answer.body + JSON.stringify(answer.headers), secretsOf(token)), [], `${label}: the token is not in the answer`)
  }
  const requests = server.logs.lines.filter((l) => l.includes('"msg":"incoming request"') && l.includes('/open'))
  t.equal(requests.length, offers.length, 'each handshake logged its request line')
  t.ok(requests.every((l) => l.includes('access_token=[REDACTED]')), 'the query token is logged [REDACTED]')
  t.same(leaked(server.logs.text(), secretsOf(token)), [], 'and is in no log line')
})
