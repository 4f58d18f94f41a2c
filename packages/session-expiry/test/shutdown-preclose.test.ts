import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { ChannelName, type SessionClosedMessage } from '@wsguard/core'
import { harness, listen, open } from './helpers.js'

// An app that gives @fastify/websocket its own preClose (a goodbye frame, a close code of its
// own) never had it run: session-expiry closed every socket 1001 first. shutdown:
// 'after-preclose' leaves the app's preClose its turn, then closes what is still open.

/** The app's preClose: a goodbye to every client, then a close with its own code for those on /feed. */
function goodbye (this: FastifyInstance, done: () => void): void {
  for (const client of this.websocketServer.clients) {
    client.send('goodbye')
    if ((client as unknown as { route?: string }).route === '/feed') client.close(1012, 'restarting')
  }
  done()
}

t.test("shutdown: 'after-preclose': the app's preClose says goodbye first; sockets it left open get 1001", async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { app, base, token } = await harness(t, {
    websocket: { preClose: goodbye },
    session: { shutdown: 'after-preclose' },
    routes: (app) => {
      app.get('/other', { websocket: true }, (socket) => { socket.on('message', () => socket.send('echo')) })
    }
  })
  // Tag each server socket with its route, for the app's preClose above.
  app.websocketServer.on('connection', (socket, req) => { (socket as unknown as { route?: string }).route = req.url })
  const feed = await open(t, `${base}/feed`, token('alice', 600))
  const other = await open(t, `${base}/other`, token('bob', 600))
  t.equal(await feed.ask('x'), 'echo:x')
  t.equal(await other.ask('x'), 'echo')
  await app.close()
  t.equal(await feed.next(), 'goodbye')
  t.equal(await other.next(), 'goodbye')
  t.same(await feed.closed, { code: 1012, reason: 'restarting' }, 'the app\'s own close code')
  t.same(await other.closed, { code: 1001, reason: 'server shutting down' }, 'left open by the app: 1001')
  t.same(closes.seen.map((c) => [c.principal?.id, c.closeCode]).sort(), [['alice', 1012], ['bob', 1001]], 'each reported before close() resolved')
})

t.test("shutdown: 'first' (the default) closes every session 1001 before any preClose hook", async (t) => {
  const { app, base, token } = await harness(t, { websocket: { preClose: goodbye } })
  const feed = await open(t, `${base}/feed`, token('alice', 600))
  t.equal(await feed.ask('x'), 'echo:x')
  await app.close()
  t.same(await feed.closed, { code: 1001, reason: 'server shutting down' })
})

t.test('shutdown must be one of the two orders', async (t) => {
  await t.rejects(harness(t, { session: { shutdown: 'last' as never } }), { code: 'WSG_INVALID_OPTION', message: /opts\.shutdown must be 'first' or 'after-preclose'/ })
})
