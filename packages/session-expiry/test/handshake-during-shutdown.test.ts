import t from 'tap'
import type { WebSocket } from '@fastify/websocket'
import { ChannelName, type HandshakeRejectedMessage, type SessionClosedMessage } from '@wsguard/core'
import { until } from '@wsguard/testing'
import { harness, open, connect, listen } from './helpers.js'

// Found by session 21's review: with shutdown: 'first', session-expiry's onClose runs before
// Fastify's own (which refuses requests once closing), waits for its sessions to close, and
// had already unsubscribed from revocations and removed its 'connection' listener. A handshake
// that came meanwhile was checked and upgraded with no session: no deadline, no revocation,
// no audit. One client that does not answer its 1001 held that window open for closeTimeoutMs.

t.test('a handshake during shutdown is refused 503, while the sessions being closed are waited for', async (t) => {
  const closed = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const rejected = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const sockets: WebSocket[] = []
  const { app, clock, base, token } = await harness(t, {
    session: { closeTimeoutMs: 60_000 },
    routes: (app) => { app.get('/hold', { websocket: true }, (socket) => { sockets.push(socket) }) }
  })
  // Two sessions whose clients never read: shutdown waits closeTimeoutMs for their close frames.
  for (const who of ['slow', 'stuck']) {
    const c = await open(t, `${base}/hold`, token(who, 3600))
    ;(c.ws as unknown as { _socket: { pause(): void } })._socket.pause()
  }
  const closing = app.close()
  await until(() => sockets.every((s) => s.readyState === 2), 'shutdown has sent its 1001s')

  const late = await connect(t, `${base}/feed`, token('mallory', 10))
  t.match(late, { refused: true, status: 503, body: { code: 'WSG_UNAVAILABLE' } }, 'no socket opens while the sessions are being closed')
  t.match(rejected.seen.at(-1), { source: '@wsguard/session-expiry', code: 'WSG_UNAVAILABLE', detail: 'shutting-down' })

  clock.advance(60_000) // the slow clients are cut off
  await closing
  t.same(closed.seen.map((m) => [m.principal?.id, m.closeCode]).sort(), [['slow', 1001], ['stuck', 1001]], 'each session reported closed')
})

t.test('a handshake admitted just before the shutdown began gets its session, closed 1001 as it opens', async (t) => {
  const closed = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  let arrived: () => void = () => {}
  const waiting = new Promise<void>((resolve) => { arrived = resolve })
  const held: WebSocket[] = []
  const { app, base, token } = await harness(t, {
    routes: (app) => {
      app.get('/hold', { websocket: true }, (socket) => { held.push(socket) })
      app.get('/gated', {
        websocket: true,
        // An app hook after session-expiry's check: the handshake is admitted, and waits here.
        preHandler: async () => { arrived(); await gate }
      }, () => {})
    }
  })
  const keep = await open(t, `${base}/hold`, token('keep', 3600))
  ;(keep.ws as unknown as { _socket: { pause(): void } })._socket.pause()
  const late = connect(t, `${base}/gated`, token('late', 3600))
  await waiting
  const closing = app.close()
  await until(() => held[0]?.readyState === 2, 'shutdown has begun: its 1001 sent')
  release()
  const answer = await late
  if ('refused' in answer) throw new Error(`admitted before the shutdown, it opens (got ${answer.status})`)
  t.match(await answer.closed, { code: 1001 }, 'closed 1001 by its session')
  t.match(await closed.wait((m) => m.principal?.id === 'late'), { closeCode: 1001, closedBy: 'server' }, 'reported closed')
  keep.ws.terminate()
  await closing
})
