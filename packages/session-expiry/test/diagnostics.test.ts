import t from 'tap'
import {
  ChannelName, appIdentity, type SessionClosedMessage, type SessionExpiringMessage, type SessionOpenedMessage, type SessionRefreshedMessage,
  type SessionRefreshFailedMessage, type SessionRevokedMessage
} from '@wsguard/core'
import { harness, open, listen, T0 } from './helpers.js'

t.test('every transition is published on the core channels, and on the session', async (t) => {
  const openedMsgs = listen<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const expiringMsgs = listen<SessionExpiringMessage>(t, ChannelName.sessionExpiring)
  const refreshedMsgs = listen<SessionRefreshedMessage>(t, ChannelName.sessionRefreshed)
  const failedMsgs = listen<SessionRefreshFailedMessage>(t, ChannelName.sessionRefreshFailed)
  const revokedMsgs = listen<SessionRevokedMessage>(t, ChannelName.sessionRevoked)
  const closedMsgs = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const events: string[] = []
  const { app, clock, base, token } = await harness(t, {
    session: { noticeMs: 10_000, graceMs: 0 },
    routes: (app) => {
      app.get('/events', { websocket: true }, (socket, req) => {
        const s = req.wsSession
        s.on('expiring', (e) => events.push(`expiring ${e.expiresAt - T0}`))
        s.on('refreshed', (e) => events.push(`refreshed ${String(e.previousExpiresAt)} → ${String(e.expiresAt)} ${e.principal.id}`))
        s.on('refresh_failed', (e) => events.push(`refresh_failed ${e.code}`))
        s.on('revoked', (e) => events.push(`revoked ${e.by}`))
        s.on('closed', (e) => events.push(`closed ${e.code} ${e.reason}`))
        socket.on('message', (d) => socket.send(JSON.stringify({ id: s.id, closed: s.closed, deadline: s.deadline, topics: [...s.topics], echo: String(d) })))
      })
      app.get('/anon', { websocket: true, config: { auth: false } }, (socket) => { socket.on('message', () => socket.send('ok')) })
    }
  })
  const c = await open(t, `${base}/events`, token('alice', 60), { origin: 'https://app.test' })
  clock.advance(50_000)
  await c.next()
  await c.ask({ type: 'auth.refresh', token: token('alice', 600) })
  await c.ask({ type: 'auth.refresh', token: 'garbage' })
  const state = await c.ask('state') as { id: string, closed: boolean, deadline: number }
  t.same({ closed: state.closed, deadline: state.deadline }, { closed: false, deadline: T0 + 650_000 })
  await app.wsSessions.revoke({ subject: 'alice' })
  await c.closed
  await closedMsgs.wait((m) => m.principal?.id === 'alice')
  const anon = await open(t, `${base}/anon`)
  t.equal(await anon.ask('x'), 'ok')
  anon.ws.close(1000, 'bye')
  await closedMsgs.wait((m) => m.principal === null)

  t.match(openedMsgs.seen, [{ sessionId: state.id, route: '/events', principal: { id: 'alice' }, openedAt: T0, deadline: T0 + 60_000, remoteAddress: '127.0.0.1', origin: 'https://app.test' }, { route: '/anon', principal: null }])
  t.notOk('origin' in (openedMsgs.seen[1] as object))
  t.match(expiringMsgs.seen, [{ sessionId: state.id, expiresAt: T0 + 60_000, deadline: T0 + 60_000 }])
  t.match(refreshedMsgs.seen, [{ sessionId: state.id, previousExpiresAt: T0 + 60_000, expiresAt: T0 + 650_000 }])
  t.match(failedMsgs.seen, [{ sessionId: state.id, code: 'WSG_TOKEN_INVALID' }])
  t.match(revokedMsgs.seen, [{ sessionId: state.id, by: 'subject' }])
  t.match(closedMsgs.seen, [
    { sessionId: state.id, closeCode: 4403, reason: 'access revoked', openedAt: T0, closedAt: T0 + 50_000, framesIn: 3, framesOut: 4 },
    { route: '/anon', closeCode: 1000, reason: 'bye', principal: null }
  ])
  t.same(events, ['expiring 60000', `refreshed ${T0 + 60_000} → ${T0 + 650_000} alice`, 'refresh_failed WSG_TOKEN_INVALID', 'revoked subject', 'closed 4403 access revoked'])
  const all = [openedMsgs.seen, expiringMsgs.seen, refreshedMsgs.seen, failedMsgs.seen, revokedMsgs.seen, closedMsgs.seen].flat()
  t.ok(all.every((m) => m.app === appIdentity(app)), 'each names this app')
  const text = JSON.stringify([openedMsgs.seen, refreshedMsgs.seen, failedMsgs.seen, closedMsgs.seen])
  t.notOk(text.includes('garbage'), 'no credential in any message')
})
