import t from 'tap'
import { ChannelName, type SessionClosedMessage } from '@wsguard/core'
import { harness, LateTimers, open, connect, listen, T0 } from './helpers.js'

t.test('expiry without refresh: notice ahead of exp, close 4401 at exp + grace', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { clock, base, token } = await harness(t, { session: { noticeMs: 60_000, graceMs: 5_000 } })
  const c = await open(t, `${base}/feed`, token('alice', 120))
  t.equal(await c.ask('hello'), 'echo:hello')
  clock.advance(59_999)
  t.equal(await c.ask('still'), 'echo:still', 'no notice before exp - noticeMs')
  clock.advance(1)
  t.same(await c.next(), { type: 'auth.expiring', expiresAt: T0 + 120_000, deadline: T0 + 125_000 })
  clock.advance(64_999)
  t.equal(await c.ask('grace'), 'echo:grace', 'open until exp + grace')
  clock.advance(1)
  t.same(await c.closed, { code: 4401, reason: 'credential expired' })
  t.match(await closes.wait(() => true), { closeCode: 4401, reason: 'credential expired', openedAt: T0, closedAt: T0 + 125_000, framesIn: 3, framesOut: 4, principal: { id: 'alice' } })
})

t.test('a token already inside the notice window gets the notice at once', async (t) => {
  const { base, token } = await harness(t, { session: { noticeMs: 60_000 } })
  const c = await open(t, `${base}/feed`, token('alice', 30))
  t.same(await c.next(), { type: 'auth.expiring', expiresAt: T0 + 30_000, deadline: T0 + 35_000 })
})

t.test('lifetime cap: 4409 whatever the token says, and no notice for it', async (t) => {
  const { clock, base, token } = await harness(t, { session: { maxLifetimeMs: 10_000, noticeMs: 5_000 } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  clock.advance(9_999)
  t.equal(await c.ask('x'), 'echo:x')
  clock.advance(1)
  t.same(await c.closed, { code: 4409, reason: 'maximum session lifetime reached' })
})

t.test('idle: no data frame either way for idleTimeoutMs closes 4408; any frame resets it', async (t) => {
  const { clock, base, token } = await harness(t, { session: { idleTimeoutMs: 1_000 } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  clock.advance(900)
  t.equal(await c.ask('ping-ish'), 'echo:ping-ish')
  clock.advance(900)
  t.equal(await c.ask('again'), 'echo:again', 'the echo at 900 ms reset the idle clock')
  clock.advance(1_000)
  t.same(await c.closed, { code: 4408, reason: 'idle timeout' })
})

t.test('heartbeat: a peer that answers pings stays open', async (t) => {
  const { clock, base, token } = await harness(t, {
    session: { heartbeatMs: 1_000 },
    routes: (app) => {
      app.get('/pongs', { websocket: true }, (socket) => { socket.on('pong', () => socket.send('pong-seen')) })
    }
  })
  const live = await open(t, `${base}/pongs`, token('alice', 3600))
  for (let i = 0; i < 4; i++) {
    clock.advance(1_000)
    t.equal(await live.next(), 'pong-seen', `ping ${i + 1} answered`)
  }
})

t.test('heartbeat: a peer that misses two pongs is terminated and reported 4408', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { clock, base, token } = await harness(t, { session: { heartbeatMs: 1_000 } })
  const silent = await open(t, `${base}/feed`, token('bob', 3600), { autoPong: false })
  const pings: number[] = []
  silent.ws.on('ping', () => pings.push(clock.now()))
  const ping = (): Promise<void> => new Promise((resolve) => silent.ws.once('ping', () => resolve()))
  let p = ping()
  clock.advance(1_000)
  await p
  p = ping()
  clock.advance(1_000)
  await p
  t.equal(await silent.ask('alive?'), 'echo:alive?', 'one missed pong is tolerated')
  clock.advance(1_000)
  const closed = await silent.closed
  t.equal(closed.code, 1006, 'terminated, no close frame')
  t.same(pings, [T0 + 1_000, T0 + 2_000])
  await closes.wait((c) => c.principal?.id === 'bob')
  t.match(closes.seen.find((c) => c.principal?.id === 'bob'), { closeCode: 4408, reason: 'heartbeat timeout' })
})

t.test('graceful shutdown closes every session 1001 and reports it', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { app, base, token } = await harness(t)
  const a = await open(t, `${base}/feed`, token('alice', 3600))
  const b = await open(t, `${base}/feed`, token('bob', 3600))
  t.equal(app.wsSessions.size, 2)
  await app.close()
  t.same(await a.closed, { code: 1001, reason: 'server shutting down' })
  t.same(await b.closed, { code: 1001, reason: 'server shutting down' })
  t.same(closes.seen.map((c) => [c.principal?.id, c.closeCode]).sort(), [['alice', 1001], ['bob', 1001]], 'reported before app.close() resolved')
  t.equal(app.wsSessions.size, 0)
})

t.test('a refused handshake creates no session', async (t) => {
  const { app, base } = await harness(t)
  const r = await connect(t, `${base}/feed`)
  t.equal('refused' in r && r.status, 401)
  t.equal(app.wsSessions.size, 0)
})

t.test('wsSession.close twice: the first close stands', async (t) => {
  const { base, token } = await harness(t, {
    routes: (app) => {
      app.get('/twice', { websocket: true }, (_socket, req) => {
        req.wsSession.close(4000, 'first')
        req.wsSession.close(4001, 'second')
      })
    }
  })
  const c = await open(t, `${base}/twice`, token('alice', 600))
  t.same(await c.closed, { code: 4000, reason: 'first' })
})

t.test('a frame that arrives past the deadline while its timer is late is not delivered: the session closes then', async (t) => {
  for (const [name, session, code, reason] of [
    ['expiry + grace', { noticeMs: 1_000, graceMs: 5_000 }, 4401, 'credential expired'],
    ['the lifetime cap', { maxLifetimeMs: 10_000 }, 4409, 'maximum session lifetime reached']
  ] as const) {
    const clock = new LateTimers(T0)
    const { base, token } = await harness(t, { clock, session })
    const c = await open(t, `${base}/feed`, token('alice', 120))
    const frames: string[] = []
    c.ws.on('message', (data) => { frames.push(String(data)) })
    t.equal(await c.ask('before'), 'echo:before')
    clock.ahead = 125_000
    c.send('late')
    c.send({ type: 'auth.refresh', token: token('alice', 600) })
    t.same(await c.closed, { code, reason }, name)
    t.same(frames.filter((f) => f === 'echo:late' || f.includes('auth.refreshed')), [], `${name}: neither frame was taken`)
  }
})
