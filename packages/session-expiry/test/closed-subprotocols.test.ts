import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { ChannelName, type SessionExpiringMessage } from '@wsguard/core'
import { harness, listen, T0 } from './helpers.js'

// A graphql-ws client closes itself 4004 "Invalid message 'type'" on a frame its protocol does
// not define: auth.expiring, noticeMs before expiry, killed every GraphQL subscription.

interface Raw { ws: WebSocket, frames: string[], closed: Promise<{ code: number, reason: string }> }

function raw (t: Test, url: string, token: string, protocols: string[]): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers: { authorization: `Bearer ${token}` } })
    t.teardown(() => ws.terminate())
    const frames: string[] = []
    ws.on('message', (data) => frames.push(String(data)))
    const closed = new Promise<{ code: number, reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })))
    ws.on('open', () => resolve({ ws, frames, closed }))
    ws.on('error', reject)
  })
}

/** Sends a frame and waits for the route's echo of it, so every frame sent before has been handled too. */
async function roundTrip (c: Raw, text: string): Promise<void> {
  const at = c.frames.length
  c.ws.send(text)
  await new Promise<void>((resolve) => {
    const check = (): void => { if (c.frames.length > at) { c.ws.off('message', check); resolve() } }
    c.ws.on('message', check)
  })
}

for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
  t.test(`${protocol}: no control frame either way; the events still fire and expiry still closes 4401`, async (t) => {
    const expiring = listen<SessionExpiringMessage>(t, ChannelName.sessionExpiring)
    const events: string[] = []
    const { clock, base, token } = await harness(t, {
      session: { noticeMs: 60_000, graceMs: 5_000 },
      routes: (app) => {
        app.get('/gql', { websocket: true }, (socket, req) => {
          events.push(`controlFrames:${String(req.wsSession.controlFrames)}`)
          req.wsSession.on('expiring', () => events.push('expiring'))
          socket.on('message', (data) => socket.send(`echo:${String(data)}`))
        })
      }
    })
    const c = await raw(t, `${base}/gql`, token('alice', 120), [protocol])
    t.equal(c.ws.protocol, protocol)
    clock.advance(60_000)
    await expiring.wait(() => true)
    // A frame shaped like a refresh is the framework's own on such a socket: handed to the app.
    const refresh = JSON.stringify({ type: 'auth.refresh', token: token('alice', 600) })
    await roundTrip(c, refresh)
    clock.advance(65_000)
    t.same(await c.closed, { code: 4401, reason: 'credential expired' })
    t.same(c.frames, [`echo:${refresh}`], 'no auth.expiring, no auth.refreshed: only the app\'s frames reached the client')
    t.same(events, ['controlFrames:false', 'expiring'])
    t.match(expiring.seen, [{ expiresAt: T0 + 120_000, deadline: T0 + 125_000 }], 'published for telemetry all the same')
  })
}

t.test('closedSubprotocols adds the app\'s own; another protocol still gets control frames', async (t) => {
  const { clock, base, token } = await harness(t, {
    session: { noticeMs: 60_000, closedSubprotocols: ['acme.v1'] },
    routes: (app) => {
      app.get('/app', { websocket: true }, (socket, req) => {
        socket.send(`controlFrames:${String(req.wsSession.controlFrames)}`)
        socket.on('message', () => socket.send('echo'))
      })
    }
  })
  const closed = await raw(t, `${base}/app`, token('alice', 30), ['acme.v1'])
  const open = await raw(t, `${base}/app`, token('alice', 30), ['acme.v2'])
  await roundTrip(closed, 'x')
  await roundTrip(open, 'x')
  // Both sockets are inside the notice window from the start: only the open protocol is told.
  t.same(closed.frames, ['controlFrames:false', 'echo'])
  t.same(open.frames.map((f) => f.startsWith('{') ? JSON.parse(f).type : f).sort(), ['auth.expiring', 'controlFrames:true', 'echo'])
  clock.advance(35_000)
  t.same((await closed.closed).code, 4401)
  t.same((await open.closed).code, 4401)
})
