import t from 'tap'
import { ChannelName, type SessionClosedMessage } from '@wsguard/core'
import { harness, listen, open } from './helpers.js'

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
