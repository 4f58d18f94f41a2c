import t, { type Test } from 'tap'
import { EventEmitter, once } from 'node:events'
import { ChannelName, type AuthOutcome, type Principal, type SessionClosedMessage } from '@wsguard/core'
import { bare, harness, listen, open, T0 } from './helpers.js'

// A refresh message that fails (a garbage token costs no signature work) or is dropped over
// the rate limit never reaches the app: it no longer holds a silent socket open past
// idleTimeoutMs. A refresh that succeeds still counts as activity.

const IDLE = 1_000
const refresh = (token: string): { type: string, token: string } => ({ type: 'auth.refresh', token })

t.test('refused refresh messages do not reset the idle clock', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { clock, base, token } = await harness(t, { session: { idleTimeoutMs: IDLE, refreshLimit: { max: 1, windowMs: 60_000 } } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  clock.advance(IDLE - 300)
  t.same(await c.ask(refresh('x')), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' }, 'refused')
  clock.advance(100)
  t.same(await c.ask(refresh('x')), { type: 'auth.refresh_failed', code: 'WSG_RATE_LIMITED' }, 'over the limit')
  // (One dropped unanswered, past the limit, takes the same path; nothing tells the test it was read.)
  clock.advance(200)
  t.same(await c.closed, { code: 4408, reason: 'idle timeout' }, 'closed at idleTimeoutMs after the last frame the app saw')
  // Both refresh messages were read before the close.
  t.match(await closes.wait(() => true), { closeCode: 4408, framesIn: 2 })
})

t.test('a refresh that succeeds counts as activity', async (t) => {
  const { app, clock, base, token } = await harness(t, { session: { idleTimeoutMs: IDLE } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  clock.advance(IDLE - 100)
  t.match(await c.ask(refresh(token('alice', 7200))), { type: 'auth.refreshed' })
  clock.advance(IDLE - 100)
  t.equal(app.wsSessions.size, 1, 'open: the refresh reset the idle clock')
  clock.advance(100)
  t.same(await c.closed, { code: 4408, reason: 'idle timeout' })
})

// A refresh that arrived in time holds the idle close while it waits for its check (the shared
// queue, a key set being fetched, a slow store): it is answered before the socket is judged idle.
const alice: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'custom', issuer: 'https://idp.test', scopes: [], sessionId: 's1', expiresAt: T0 + 3_600_000, claims: {} })

/** session-expiry alone, idle after IDLE ms, its refresh checks answered when the test says. */
async function held (t: Test) {
  const checks: Array<(o: AuthOutcome) => void> = []
  const started = new EventEmitter()
  const authenticate = (): Promise<AuthOutcome> => new Promise((resolve) => {
    checks.push(resolve)
    started.emit('check')
  })
  const app = await bare(t, { idleTimeoutMs: IDLE, authenticate }, alice)
  const c = await open(t, `${app.base}/ws`)
  const checking = once(started, 'check')
  c.send(refresh('next'))
  await checking
  // Past the idle deadline while the check is pending: the timer fires, and does not close.
  app.clock.advance(IDLE + 500)
  return { ...app, c, answer: (o: AuthOutcome) => { (checks.shift() as (o: AuthOutcome) => void)(o) } }
}

t.test('a refresh being checked at the idle deadline holds the close; once it succeeds the idle clock restarts', async (t) => {
  const { app, c, clock, answer } = await held(t)
  t.equal(app.wsSessions.size, 1, 'not idle-closed while its refresh is checked')
  answer({ ok: true, principal: { ...alice, expiresAt: T0 + 7_200_000 } })
  t.match(await c.next(), { type: 'auth.refreshed' })
  clock.advance(IDLE - 1)
  t.equal(app.wsSessions.size, 1, 'open: the refresh counted as activity')
  clock.advance(1)
  t.same(await c.closed, { code: 4408, reason: 'idle timeout' })
})

t.test('a refresh being checked at the idle deadline, then refused, lets the idle close happen at once', async (t) => {
  const { app, c, clock, answer } = await held(t)
  t.equal(app.wsSessions.size, 1, 'not idle-closed while its refresh is checked')
  answer({ ok: false, code: 'WSG_TOKEN_INVALID' })
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  // A timer armed for now: the fake clock runs it when told, without moving.
  clock.advance(0)
  t.same(await c.closed, { code: 4408, reason: 'idle timeout' }, 'the close was already due')
})

t.test('a refresh check that never answers holds the idle close one idleTimeoutMs more, no longer', async (t) => {
  const { c, clock, sockets } = await held(t) // checked, never answered; the clock is IDLE + 500 past the last frame
  const server = sockets[0] as { readyState: number }
  clock.advance(IDLE - 501)
  t.equal(server.readyState, 1, 'open 1 ms before twice idleTimeoutMs')
  clock.advance(1)
  t.same(await c.closed, { code: 4408, reason: 'idle timeout' }, 'closed at twice idleTimeoutMs')
})
