import t from 'tap'
import { topicAuthz } from '@wsguard/topic-authz'
import { captureLogs, until } from '@wsguard/testing'
import { harness, open, T0 } from './helpers.js'

// An app listener on the session's events that threw was thrown through the session's own
// work. From 'expiring' (fired by the deadline timer, before the timer was armed again) it
// left the session with no timer at all: the socket stayed open past expiry + grace for good.
// From 'refreshed' or 'topic-revoked' it stopped the re-check of the tracked topics after a
// refresh, so the socket kept topics its new principal may not hold.

t.test('an \'expiring\' listener that throws: the session is still closed 4401 at expiry + grace', async (t) => {
  const logs = captureLogs()
  const { clock, base, token } = await harness(t, {
    session: { noticeMs: 60_000, graceMs: 5_000 },
    logs,
    routes: (app) => {
      app.get('/throws', { websocket: true }, (socket, req) => {
        req.wsSession.on('expiring', () => { throw new Error('the app broke') })
        req.wsSession.once('expiring', ({ deadline }) => { socket.send(`second listener heard it: ${deadline - T0}`) })
        socket.on('message', (raw) => socket.send(`echo:${String(raw)}`))
      })
    }
  })
  const c = await open(t, `${base}/throws`, token('alice', 120))
  clock.advance(60_000)
  t.same(await c.next(), { type: 'auth.expiring', expiresAt: T0 + 120_000, deadline: T0 + 125_000 })
  t.equal(await c.next(), 'second listener heard it: 125000', 'a listener after the one that threw still hears the event')
  clock.advance(65_000)
  t.same(await c.closed, { code: 4401, reason: 'credential expired' })
  t.match(logs.lines.map((l) => JSON.parse(l) as unknown), [{ msg: 'session-expiry: an app listener of \'expiring\' threw', err: { message: 'the app broke' } }])
})

for (const event of ['refreshed', 'topic-revoked'] as const) {
  t.test(`a '${event}' listener that throws: every tracked topic the new principal may not hold is still revoked`, async (t) => {
    const logs = captureLogs()
    const { base, token } = await harness(t, {
      logs,
      before: async (app) => {
        await app.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}.>', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] })
      },
      routes: (app) => {
        app.get('/orders', { websocket: true }, (socket, req) => {
          req.wsSession.on(event, () => { throw new Error('the app broke') })
          socket.on('message', (raw) => {
            const topic = String(raw)
            if (topic === 'topics') { socket.send(JSON.stringify([...req.wsSession.topics.keys()])); return }
            const d = req.authorizeTopic('subscribe', topic)
            if (d.allow) req.wsSession.trackTopic(topic)
            socket.send(JSON.stringify({ topic, allow: d.allow }))
          })
        })
      }
    })
    const c = await open(t, `${base}/orders`, token('alice', 3600, { tenant: 'acme' }))
    t.same(await c.ask('orders.acme.eu'), { topic: 'orders.acme.eu', allow: true })
    t.same(await c.ask('orders.acme.us'), { topic: 'orders.acme.us', allow: true })
    t.same(await c.ask({ type: 'auth.refresh', token: token('alice', 7200, { tenant: 'globex' }) }), { type: 'auth.refreshed', expiresAt: T0 + 7_200_000 })
    t.same(await c.next(), { type: 'topic.revoked', topic: 'orders.acme.eu', action: 'subscribe' })
    t.same(await c.next(), { type: 'topic.revoked', topic: 'orders.acme.us', action: 'subscribe' })
    t.same(await c.ask('topics'), [], 'none of the old tenant\'s topics is held')
    const errors = logs.lines.map((l) => JSON.parse(l) as { msg: string })
    t.equal(errors.length, event === 'refreshed' ? 1 : 2, 'each listener\'s error is logged')
    t.match(errors[0], { msg: `session-expiry: an app listener of '${event}' threw`, err: { message: 'the app broke' } })
  })
}

t.test('a \'refresh_failed\' or \'closed\' listener that throws: logged, and the session goes on as it would', async (t) => {
  const logs = captureLogs()
  const { base, token } = await harness(t, {
    logs,
    routes: (app) => {
      app.get('/throws', { websocket: true }, (socket, req) => {
        req.wsSession.on('refresh_failed', () => { throw new Error('refresh_failed listener broke') })
        req.wsSession.on('closed', () => { throw new Error('closed listener broke') })
        socket.on('message', (raw) => socket.send(`echo:${String(raw)}`))
      })
    }
  })
  const c = await open(t, `${base}/throws`, token('alice', 3600))
  t.same(await c.ask({ type: 'auth.refresh', token: token('mallory', 3600) }), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  t.equal(await c.ask('still here'), 'echo:still here', 'the socket is served as before')
  c.ws.close(1000)
  t.same(await c.closed, { code: 1000, reason: '' })
  await until(() => logs.lines.length === 2, 'both errors logged')
  t.match(logs.lines.map((l) => JSON.parse(l) as unknown), [
    { msg: 'session-expiry: an app listener of \'refresh_failed\' threw', err: { message: 'refresh_failed listener broke' } },
    { msg: 'session-expiry: an app listener of \'closed\' threw', err: { message: 'closed listener broke' } }
  ])
})
