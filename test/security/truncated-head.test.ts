// Found by session 20's adversarial review. T61 says two Authorization headers are ambiguous
// "whatever their schemes" (Node reads the first, a proxy may read the last). Node's HTTP
// parser silently drops header lines past its header-count limit (1,000 lines by default),
// from `headers` and `rawHeaders` alike. A client that padded the request with ~1,100 short
// header lines (about 7 KB, under the 16 KB head limit) put its second Authorization header
// where wsguard could not see it, while a proxy in front read it: T61's own request opened a
// socket as alice while the proxy saw bob. Now an upgrade whose header lines reached the
// limit is refused 400 before any credential is read (core's refuseTruncatedHeads).
import t from 'tap'
import { ALLOWED_ORIGIN } from './carriers.js'
import { exchange, UPGRADE_HEADERS } from './raw-http.js'
import { securityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

function upgrade (path: string, alice: string, bob: string, padding: number): string {
  let head = `GET ${path} HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}Origin: ${ALLOWED_ORIGIN}\r\n` +
    'Authorization: Basic dXNlcjpwYXNz\r\n' +
    `Cookie: access_token=${alice}\r\n`
  for (let i = 0; i < padding; i++) head += 'a: b\r\n'
  // The header a proxy that reads the last Authorization acts on.
  return `${head}Authorization: Bearer ${bob}\r\n\r\n`
}

t.test('a second Authorization header past Node\'s header-count limit: the upgrade is refused, no socket opens', async (t) => {
  const server = await securityServer(t)
  const alice = sign(ec, claims(server.clock.now()))
  const bob = sign(ec, claims(server.clock.now(), { sub: 'bob' }))

  // Control: the same request with a little padding is T61's refusal.
  const few = await exchange(server.port, upgrade(server.feed, alice, bob, 10), 5000)
  t.equal(few.status, 400, 'with 10 padding lines: refused, two credentials (T61 holds)')
  t.match(few.bytes.toString('latin1'), /WSG_AMBIGUOUS_CREDENTIAL/)

  // The same request with ~1,100 padding lines (about 7 KB of head).
  const request = upgrade(server.feed, alice, bob, 1_100)
  t.ok(Buffer.byteLength(request) < 16_384, `the head is ${Buffer.byteLength(request)} bytes, under Node's 16 KB limit`)
  const padded = await exchange(server.port, request, 5000)
  t.equal(padded.status, 400, `with 1,100 padding lines: refused (got ${padded.status}; opened as ${JSON.stringify(server.opened)})`)
  t.match(padded.bytes.toString('latin1'), /WSG_BAD_REQUEST/, 'as a malformed upgrade: its header lines were cut short')
  t.same(server.opened, [], 'no socket opened while a proxy saw another credential')
})
