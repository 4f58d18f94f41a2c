// Gaps this suite found in the plugins after the hardening findings, now fixed: a Bearer
// token hidden behind a first Authorization header of another scheme, upgrades to URLs no
// route matches taken for routes added before a plugin, and (an adversarial review of session
// 14) refusals delivered as closes read by the app's own websocket server.
import { connect } from 'node:net'
import t from 'tap'
import { until } from '@wsguard/testing'
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

t.test('browserRejection \'close\': a client with no credential can neither crash the server nor make it buffer a data frame', async (t) => {
  const server = await securityServer(t, { auth: { browserRejection: 'close' } })
  // The refusal is a 101 and a close 4401; then the client sends what a refused socket must not take in.
  const refusedThenSend = async (after: Buffer): Promise<string> => {
    const socket = connect(server.port, '127.0.0.1')
    t.teardown(() => socket.destroy())
    let received = ''
    socket.on('data', (d: Buffer) => { received += d.toString('latin1') })
    socket.on('error', () => {})
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    socket.write(`GET ${server.feed} HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}Origin: ${ALLOWED_ORIGIN}\r\n\r\n`)
    await until(() => received.includes('WSG_CREDENTIAL_MISSING'), 'the refusal, as a close')
    socket.write(after)
    await closed
    return received.split('\r\n')[0] as string
  }
  // An unmasked frame: before, the refused socket's `ws` emitted an 'error' nobody listened to,
  // and the process died of it.
  const unmasked = Buffer.from([0x81, 0x04, ...Buffer.from('oops')])
  t.equal(await refusedThenSend(unmasked), 'HTTP/1.1 101 Switching Protocols')
  // A frame declaring 100 MB (under ws's default maxPayload): before, it was read into memory
  // for 5 s; now a refused socket reads at most a control frame's 125 bytes.
  const big = Buffer.alloc(14 + 65_536)
  big[0] = 0x82
  big[1] = 0x80 | 127
  big.writeBigUInt64BE(100_000_000n, 2)
  t.equal(await refusedThenSend(big), 'HTTP/1.1 101 Switching Protocols')
  t.equal(server.app.websocketServer.clients.size, 0, 'no refused socket among the app\'s clients')
  const alice = await server.open(t, sign(ec, claims(server.clock.now())))
  t.equal(await alice.ask('whoami'), 'alice', 'the server still serves')
})
