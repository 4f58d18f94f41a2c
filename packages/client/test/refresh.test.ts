// auth.expiring answered in-band, on the same socket; the control messages kept from the app.
import t from 'tap'
import { CredentialError } from '../src/index.js'
import { harness, lastDelay, type Harness } from './helpers.js'

const flush = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

async function opened (h: Harness): Promise<NonNullable<Harness['sockets'][0]>> {
  const socket = await h.socket(1)
  socket.accept()
  return socket
}

t.test('auth.expiring: getToken("refresh"), then auth.refresh on the same socket; auth.refreshed reported', async (t) => {
  const h = harness(t)
  const socket = await opened(h)
  socket.receive({ type: 'auth.expiring', expiresAt: 2_000_000, deadline: 2_005_000 })
  t.same(h.of('expiring'), [{ type: 'expiring', expiresAt: 2_000_000, deadline: 2_005_000 }])
  await flush()
  t.same(h.tokenCalls, ['connect', 'refresh'])
  t.same(socket.sent, [JSON.stringify({ type: 'auth.refresh', token: 'token-2' })])
  socket.receive({ type: 'auth.refreshed', expiresAt: 3_000_000 })
  t.same(h.of('refreshed'), [{ type: 'refreshed', expiresAt: 3_000_000 }])
  t.equal(h.sockets.length, 1, 'no new socket')
  t.equal(h.client.state, 'open')
  t.same(h.messages, [], 'control messages never reach the app')
})

t.test('auth.refresh_failed is reported with its code; the socket stays', async (t) => {
  const h = harness(t)
  const socket = await opened(h)
  socket.receive({ type: 'auth.refresh_failed', code: 'WSG_TOKEN_EXPIRED' })
  socket.receive({ type: 'auth.refresh_failed' })
  t.same(h.of('refresh-failed'), [{ type: 'refresh-failed', code: 'WSG_TOKEN_EXPIRED' }, { type: 'refresh-failed', code: undefined }])
  t.equal(h.client.state, 'open')
})

t.test('getToken() failing or answering nothing usable during a refresh: refresh-failed with the error, nothing sent', async (t) => {
  const boom = new Error('idp down')
  const answers: Array<() => string> = [() => 'token-1', () => { throw boom }, () => '']
  const h = harness(t, { getToken: () => (answers.shift() as () => string)() })
  const socket = await opened(h)
  socket.receive({ type: 'auth.expiring' })
  await flush()
  socket.receive({ type: 'auth.expiring' })
  await flush()
  const failed = h.of('refresh-failed')
  t.equal(failed[0]?.error, boom)
  t.type(failed[1]?.error, CredentialError)
  t.same(socket.sent, [])
  t.same(h.of('expiring'), [{ type: 'expiring', expiresAt: undefined, deadline: undefined }, { type: 'expiring', expiresAt: undefined, deadline: undefined }])
})

t.test('one refresh at a time: a second notice while getToken() runs is not a second refresh', async (t) => {
  const pending: Array<(token: string) => void> = []
  let first = true
  const h = harness(t, {
    getToken: async () => {
      if (first) { first = false; return 'token-1' }
      return await new Promise<string>((resolve) => pending.push(resolve))
    }
  })
  const socket = await opened(h)
  socket.receive({ type: 'auth.expiring' })
  socket.receive({ type: 'auth.expiring' })
  await flush()
  t.equal(pending.length, 1)
  pending[0]?.('token-2')
  await flush()
  t.same(socket.sent, [JSON.stringify({ type: 'auth.refresh', token: 'token-2' })])
  socket.receive({ type: 'auth.expiring' })
  await flush()
  t.equal(pending.length, 1, 'a notice before the server answered the refresh sends none')
  socket.receive({ type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  socket.receive({ type: 'auth.expiring' })
  await flush()
  t.equal(pending.length, 2, 'once answered, the next notice refreshes again')
})

t.test('notices not from the server (an app relaying other clients\' frames) cannot drive refresh after refresh', async (t) => {
  const h = harness(t)
  const socket = await opened(h)
  for (let i = 0; i < 12; i++) {
    socket.receive({ type: 'auth.expiring', expiresAt: i, deadline: i })
    await flush()
  }
  t.same(h.tokenCalls, ['connect', 'refresh'], 'one refresh, awaiting its answer')
  t.equal(socket.sent.length, 1)
  socket.receive({ type: 'auth.refreshed', expiresAt: 3_000_000 })
  socket.receive({ type: 'auth.expiring' })
  await flush()
  t.equal(socket.sent.length, 2, 'answered: the next notice refreshes')
  socket.drop(1006) // that refresh still unanswered
  h.clock.advance(lastDelay(h))
  const next = await h.socket(2)
  next.accept()
  next.receive({ type: 'auth.expiring' })
  await flush()
  t.equal(next.sent.length, 1, 'an unanswered refresh on the old socket does not hold back the new one')
})

t.test('a token that arrives after its socket closed is not sent anywhere', async (t) => {
  let release: (token: string) => void = () => {}
  let calls = 0
  const h = harness(t, {
    getToken: async () => (++calls === 2 ? await new Promise<string>((resolve) => { release = resolve }) : `token-${calls}`)
  })
  const socket = await opened(h)
  socket.receive({ type: 'auth.expiring' })
  socket.drop(1006)
  release('late')
  await flush()
  t.same(socket.sent, [])
})

t.test('without getToken (a cookie or ticket session) the notice is reported and nothing sent', async (t) => {
  const h = harness(t, { getToken: undefined })
  const socket = await opened(h)
  t.same(socket.protocols, ['feed.v1'])
  socket.receive({ type: 'auth.expiring', expiresAt: 5 })
  await flush()
  t.same(h.of('expiring'), [{ type: 'expiring', expiresAt: 5, deadline: undefined }])
  t.same(socket.sent, [])
})

t.test('renamed control messages (session-expiry\'s messages option)', async (t) => {
  const h = harness(t, { messages: { expiring: 'x.expiring', refresh: 'x.refresh', refreshed: 'x.ok' } })
  const socket = await opened(h)
  socket.receive({ type: 'x.expiring' })
  socket.receive({ type: 'auth.expiring' })
  await flush()
  t.same(socket.sent, [JSON.stringify({ type: 'x.refresh', token: 'token-2' })])
  socket.receive({ type: 'x.ok', expiresAt: 9 })
  t.same(h.of('refreshed'), [{ type: 'refreshed', expiresAt: 9 }])
  t.same(h.messages, [JSON.stringify({ type: 'auth.expiring' })], 'the old name is an app frame now')
})

t.test('the app gets every other frame untouched', async (t) => {
  const h = harness(t)
  const socket = await opened(h)
  const binary = new Uint8Array([1, 2, 3]).buffer
  const frames = [
    'plain text',
    '{"type":"price","value":1}',
    '{"type":"note","text":"\\"auth.expiring\\" is a control message"}',
    '{"type":"auth.expiring"',
    '"auth.expiring"',
    '{"nested":{"type":"auth.expiring"}}',
    '{"type":"topic.revoked","topic":7}',
    '[{"type":"auth.expiring"}]',
    binary
  ]
  for (const frame of frames) socket.receive(frame)
  await flush()
  t.same(h.messages, frames)
  t.equal(h.messages.at(-1), binary)
  t.same(h.of('expiring'), [])
  t.same(h.of('topic-revoked'), [])
  t.equal(socket.binaryType, 'arraybuffer', 'binary frames arrive as ArrayBuffers in every runtime')
})

t.test('once the server answers WSG_RATE_LIMITED, the socket sends no more refreshes: forged pairs cannot reach its 4400', async (t) => {
  const h = harness(t)
  const socket = await opened(h)
  // a relay that lets another client's frames through: a notice, then an answer, again and again
  for (let i = 0; i < 5; i++) {
    socket.receive({ type: 'auth.expiring', expiresAt: i, deadline: i })
    await flush()
    socket.receive({ type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  }
  t.equal(socket.sent.length, 5, 'forged answers let each forged notice through: the server\'s limit counts them')
  socket.receive({ type: 'auth.expiring' })
  await flush()
  socket.receive({ type: 'auth.refresh_failed', code: 'WSG_RATE_LIMITED' }) // the server's answer to the sixth
  for (let i = 0; i < 10; i++) {
    socket.receive({ type: 'auth.expiring' })
    await flush()
    socket.receive({ type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  }
  t.equal(socket.sent.length, 6, 'none after WSG_RATE_LIMITED: never the twice-the-limit that closes 4400')
  t.equal(h.client.state, 'open')
  socket.drop(4401)
  h.clock.advance(lastDelay(h))
  const next = await h.socket(2)
  next.accept()
  next.receive({ type: 'auth.expiring' })
  await flush()
  t.equal(next.sent.length, 1, 'a new socket refreshes again')
})
