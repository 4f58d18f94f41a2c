import t, { type Test } from 'tap'
import { EventEmitter, once } from 'node:events'
import { ChannelName, type AuthOutcome, type Principal, type SessionClosedMessage } from '@wsguard/core'
import { until } from '@wsguard/testing'
import { bare, listen, open, T0 } from './helpers.js'

// A refresh being checked holds only the idle close (one more idleTimeoutMs at most): the
// heartbeat and the credential's deadline still close the socket on time meanwhile, and the
// refresh's success, answered after that, renews nothing. (From session 26's review.)

const refresh = JSON.stringify({ type: 'auth.refresh', token: 'next' })
const alice: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'custom', issuer: 'https://idp.test', scopes: [], sessionId: 's1', expiresAt: T0 + 20_000, claims: {} })
const renewed: AuthOutcome = { ok: true, principal: { ...alice, expiresAt: T0 + 999_000 } }

/** session-expiry alone, its refresh checks answered when the test says; resolves once one is being checked. */
async function checking (t: Test, opts: Record<string, unknown>, client: { autoPong?: boolean } = {}) {
  const checks: Array<(o: AuthOutcome) => void> = []
  const started = new EventEmitter()
  const authenticate = (): Promise<AuthOutcome> => new Promise((resolve) => { checks.push(resolve); started.emit('check') })
  const app = await bare(t, { authenticate, ...opts }, alice)
  const c = await open(t, `${app.base}/ws`, undefined, client)
  return { ...app, c, checks, started }
}

t.test('a refresh being checked does not hold the heartbeat: a peer that stops reading is cut 4408 on time', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const HEARTBEAT = 1_000
  const { clock, c, started } = await checking(t, { heartbeatMs: HEARTBEAT, idleTimeoutMs: 10_000 }, { autoPong: false })
  const checked = once(started, 'check')
  c.send(refresh)
  await checked
  c.ws.pause()
  for (let i = 0; i < 3; i++) clock.advance(HEARTBEAT)
  await until(() => closes.seen.length > 0, 'the session closed')
  t.match(closes.seen[0], { closeCode: 4408, reason: 'heartbeat timeout', closedAt: T0 + 3 * HEARTBEAT })
})

t.test('a refresh being checked at credential expiry: closed 4401 at expiry + grace, and its success then renews nothing', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { app, clock, c, checks, started } = await checking(t, { heartbeatMs: 0, idleTimeoutMs: 0, graceMs: 1_000, noticeMs: 0 })
  const frames: string[] = []
  c.ws.on('message', (d) => { frames.push(String(d)) })
  clock.advance(19_000)
  const checked = once(started, 'check')
  c.send(refresh)
  await checked
  clock.advance(1_999)
  t.equal(app.wsSessions.size, 1, 'open 1 ms before expiry + grace')
  clock.advance(1)
  t.same(await c.closed, { code: 4401, reason: 'credential expired' })
  ;(checks.shift() as (o: AuthOutcome) => void)(renewed)
  await until(() => closes.seen.length > 0, 'reported')
  t.match(closes.seen[0], { closeCode: 4401, closedAt: T0 + 21_000 })
  t.notOk(frames.some((f) => f.includes('auth.refreshed')), 'no auth.refreshed')
  t.equal(closes.seen.length, 1, 'one close')
})
