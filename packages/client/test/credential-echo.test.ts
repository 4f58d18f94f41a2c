// Found by session 20's adversarial review: a server that selects the credential entry as its
// subprotocol (a hostile one, or a route behind a proxy or framework with its own
// handleProtocols: anything but wsguard, which strips it) got the client to publish the bearer
// token in its `connected` event's `protocol`, which apps log. Now such a socket is closed at
// once (4400), no event carries the entry, and the next attempt backs off.
import t from 'tap'
import { DEFAULT_BASE_DELAY_MS } from '../src/index.js'
import { harness } from './helpers.js'

t.test('the server selects the bearer entry: the socket is closed, no event carries it, and the next attempt backs off', async (t) => {
  const h = harness(t)
  const socket = await h.socket(1)
  const entry = socket.protocols.find((p) => p.startsWith('bearer.')) as string
  t.ok(entry, `the client offered ${JSON.stringify(socket.protocols)}`)
  // the server answers 101 selecting the credential entry
  socket.readyState = 1
  socket.protocol = entry
  socket.onopen?.({})
  const leaked = h.events.filter((e) => JSON.stringify(e).includes(entry.slice('bearer.'.length)))
  t.same(leaked, [], `no client event carries the token (got ${JSON.stringify(leaked)})`)
  t.equal(h.client.state, 'waiting', 'the client does not keep a socket on which its credential was echoed')
  t.same(socket.closedWith, { code: 4400, reason: 'the server selected the credential as its subprotocol' }, 'closed by the client')
  t.same(h.of('connected'), [], 'never reported as connected')
  t.match(h.of('retrying'), [{ type: 'retrying', code: 4400 }])
  t.ok((h.of('retrying')[0]?.delayMs as number) >= DEFAULT_BASE_DELAY_MS * 0.5, 'after a backoff, not at once')
  // The next socket, whose server selects nothing of the client's, is kept.
  h.clock.advance(h.of('retrying')[0]?.delayMs as number)
  const next = await h.socket(2)
  next.accept()
  t.equal(h.client.state, 'open')
})
