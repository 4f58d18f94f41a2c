import t, { type Test } from 'tap'
import type { IncomingMessage } from 'node:http'
import { until } from '@wsguard/testing'
import { ChannelName, type SessionClosedMessage } from '@wsguard/core'
import { harness, listen, open } from './helpers.js'

// When session-expiry ends a session it calls socket.close(code): ws only sends a close frame
// and waits up to 30 s for the peer's. Meanwhile ws keeps emitting every 'message' it reads,
// and session-expiry's emit wrapper passes them on, so a client that does not answer the close
// (it just stops reading) keeps talking to the app for 30 s with a revoked or expired credential.

interface Sink { frames: string[], raw: IncomingMessage | undefined }

async function setup (t: Test, sink: Sink) {
  return await harness(t, {
    routes: (app) => {
      app.get('/sink', { websocket: true }, (socket, req) => {
        sink.raw = req.raw
        socket.on('message', (data) => { sink.frames.push(String(data)) })
      })
    }
  })
}

/** Sends a frame and waits until the server's TCP socket has read it (or was destroyed). */
async function deliver (client: { ws: { send(d: string): void } }, sink: Sink, frame: string): Promise<void> {
  const socket = (sink.raw as IncomingMessage).socket
  const before = socket.bytesRead
  client.ws.send(frame)
  await until(() => socket.bytesRead > before || socket.destroyed, 'the server read the frame or dropped the connection')
}

t.test('after revoke() (4403), the app receives no further frame from the client', async (t) => {
  const sink: Sink = { frames: [], raw: undefined }
  const h = await setup(t, sink)
  const client = await open(t, `${h.base}/sink`, h.token('alice', 300))
  await deliver(client, sink, 'before')
  t.same(sink.frames, ['before'])
  client.ws.pause() // stop reading: the close frame is never answered
  t.same(await h.app.wsSessions.revoke({ subject: 'alice' }), { closed: 1 })
  await deliver(client, sink, 'after-revoke: place order')
  t.same(sink.frames, ['before'], 'a revoked session delivers nothing more to the app')
})

t.test('after the credential expired (4401 at exp + grace), the app receives no further frame', async (t) => {
  const sink: Sink = { frames: [], raw: undefined }
  const h = await setup(t, sink)
  const client = await open(t, `${h.base}/sink`, h.token('alice', 60))
  await deliver(client, sink, 'before')
  client.ws.pause()
  h.clock.advance(60_000 + 5_000 + 1) // exp + default grace
  t.equal(h.app.wsSessions.size, 1, 'the session is closing, not ended (no close frame came back)')
  await deliver(client, sink, 'after-expiry')
  t.same(sink.frames, ['before'], 'an expired session delivers nothing more to the app')
})

t.test('a client that does not answer the close is cut off after closeTimeoutMs, and the session reports its code', async (t) => {
  const closed = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const sink: Sink = { frames: [], raw: undefined }
  const h = await setup(t, sink)
  const client = await open(t, `${h.base}/sink`, h.token('alice', 300))
  await deliver(client, sink, 'before')
  client.ws.pause() // the close frame is never answered
  t.same(await h.app.wsSessions.revoke({ subject: 'alice' }), { closed: 1 })
  h.clock.advance(4_999)
  t.equal(h.app.wsSessions.size, 1, '1 ms before closeTimeoutMs (5 s), still waiting for the close frame')
  h.clock.advance(1)
  const m = await closed.wait(() => true)
  t.same([m.closeCode, m.reason], [4403, 'access revoked'], 'cut off, and reported with the code it was closed with')
  t.equal(h.app.wsSessions.size, 0)
})
