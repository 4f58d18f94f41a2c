// Found by session 21's review: T61/T96 on the ticket endpoint. Two Authorization headers are
// ambiguous whatever their schemes (Node reads the first, a proxy may read the last), and the
// ticket endpoint refuses them (bearerHeader counts rawHeaders). But Node's parser silently
// drops header lines past maxHeadersCount (1,000), from headers and rawHeaders alike, and
// core's refuseTruncatedHeads (the X6 fix) refused such heads only on upgrades and governHttp
// routes: a padded POST got a ticket as the FIRST credential's principal while a proxy in
// front acted on the last, and that ticket opened a socket as that principal (the handshake
// with a ticket reads no Authorization header at all). The back-channel logout endpoint now
// refuses such heads too.
import { connect as tcp, type AddressInfo } from 'node:net'
import t from 'tap'
import { claimsFor, FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'
import { buildApp, connect } from './helpers.js'
import { form, logoutApp, logoutToken } from './logout-helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const ORIGIN = 'https://app.test'
const key = generateKey('ES256')

async function post (port: number, head: string, body: string): Promise<{ status: number, text: string }> {
  return await new Promise((resolve) => {
    let got = ''
    const socket = tcp(port, '127.0.0.1', () => socket.write(head + body))
    const done = (): void => { socket.destroy(); resolve({ status: Number(got.slice(9, 12)) || 0, text: got }) }
    socket.on('data', (d: Buffer) => { got += d.toString('latin1'); if (got.includes('}')) done() })
    socket.on('error', () => {})
    socket.on('close', done)
  })
}

function ticketRequest (alice: string, bob: string, padding: number): { head: string, body: string } {
  const body = JSON.stringify({ path: '/feed' })
  let head = `POST /ws-ticket HTTP/1.1\r\nHost: x\r\nOrigin: ${ORIGIN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Authorization: Bearer ${alice}\r\n`
  for (let i = 0; i < padding; i++) head += 'a: b\r\n'
  // The header a proxy that reads the last Authorization acts on.
  return { head: `${head}Authorization: Bearer ${bob}\r\nConnection: close\r\n\r\n`, body }
}

t.test('a ticket request whose second Authorization Node dropped is refused, as an upgrade would be', async (t) => {
  const clock = new FakeClock()
  const { app, url } = await buildApp(t, {
    jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) },
    carriers: ['header', 'ticket'],
    tickets: {},
    clock
  })
  const port = (app.server.address() as AddressInfo).port
  const token = (sub: string): string => mintToken(key, { ...claimsFor(ISS, AUD, sub, clock.now(), 300), scope: 'feed:read' })
  const alice = token('alice')
  const bob = token('bob')

  const few = ticketRequest(alice, bob, 10)
  const control = await post(port, few.head, few.body)
  t.equal(control.status, 400, 'with 10 padding lines: refused, two credentials (T61 holds)')
  t.match(control.text, /WSG_AMBIGUOUS_CREDENTIAL/)

  const many = ticketRequest(alice, bob, 1_100)
  t.ok(Buffer.byteLength(many.head) < 16_384, `the head is ${Buffer.byteLength(many.head)} bytes, under Node's 16 KB limit`)
  const padded = await post(port, many.head, many.body)
  t.equal(padded.status, 400, `with 1,100 padding lines: refused (got ${padded.status})`)
  const ticket = /"ticket":"([A-Za-z0-9_-]{43})"/.exec(padded.text)?.[1]
  if (ticket !== undefined) {
    const opened = await connect(t, url, { origin: ORIGIN, protocols: ['app.v1', `ticket.${ticket}`] })
    t.notOk(opened.open, `no socket opens with that ticket (opened as ${opened.open ? String((opened.message.principal as { id: string }).id) : '-'})`)
  }
})

t.test('a back-channel logout whose head reached the line limit is refused, and revokes nothing', async (t) => {
  const env = await logoutApp(t)
  const padding = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-pad-${i}`, 'b']))
  const post = (n: number) => env.app.inject({ method: 'POST', url: '/oidc/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded', ...padding(n) }, payload: form({ logout_token: logoutToken() }) })
  const padded = await post(1_000)
  t.equal(padded.statusCode, 400)
  t.equal(padded.json().code, 'WSG_LOGOUT_TOKEN_INVALID')
  t.equal(padded.headers['cache-control'], 'no-store')
  t.same(env.store.revoked, [], 'nothing revoked')
  t.equal((await post(10)).statusCode, 200, 'with 10 extra lines the same logout is applied')
  t.equal(env.store.revoked.length, 1)
})
