import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { generateKey, jwks, mintToken, claimsFor } from '@wsguard/testing'
import { buildApp, connect } from './helpers.js'

// config.auth: false opts a route out of authentication, not out of credential hygiene:
// a token a client sends anyway is still never logged and never echoed.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const token = mintToken(key, claimsFor(ISS, AUD, 'alice'))
const jwt = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }
const publicRoute = {
  routes: (app: FastifyInstance) => {
    app.get('/public', { websocket: true, config: { auth: false } }, (socket, req) => {
      socket.send(JSON.stringify({ principal: req.principal, protocol: socket.protocol }))
    })
  }
}

t.test('an opted-out route logs a query token redacted', async (t) => {
  const { url, logs } = await buildApp(t, { jwt }, publicRoute)
  const res = await connect(t, url, { path: `/public?access_token=${token}&x=1` })
  t.equal(res.open, true)
  t.equal(res.open && res.message.principal, null, 'still no principal')
  t.match(logs.text(), /"url":"\/public\?access_token=\[REDACTED\]&x=1"/, 'the incoming-request line shows it redacted')
  t.notOk(logs.text().includes(token), 'the token is in no log line')
  t.notOk(logs.text().includes(token.split('.')[2] as string), 'not even its signature')
})

t.test('an opted-out route never echoes a bearer subprotocol entry', async (t) => {
  const { url, app } = await buildApp(t, { jwt }, publicRoute)
  const res = await connect(t, url, { path: '/public', protocols: [`bearer.${token}`, 'app.v1'] })
  t.equal(res.open, true)
  if (!res.open) return
  t.equal(res.responseHeaders['sec-websocket-protocol'], 'app.v1', 'the app\'s protocol is selected, not the token')
  t.equal(res.message.protocol, 'app.v1')
  t.notOk(JSON.stringify(res.responseHeaders).includes(token), 'the token is in no header we send')
  const upper = await connect(t, url, { path: '/public', protocols: [`BEARER.${token}`, 'app.v2'] })
  t.equal(upper.open && upper.protocol, 'app.v2', 'the prefix is matched case-insensitively')
  const plain = await app.inject({ url: '/public', headers: { 'sec-websocket-protocol': `bearer.${token}` } })
  t.equal(plain.statusCode, 404, 'a plain GET is left alone (and gets @fastify/websocket\'s 404)')
})
