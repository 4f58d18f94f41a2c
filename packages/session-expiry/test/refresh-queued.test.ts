import t, { type Test } from 'tap'
import type WebSocket from 'ws'
import type { AuthOutcome, Principal } from '@wsguard/core'
import { bare, LateTimers, open, T0 } from './helpers.js'

// In-band refreshes are checked on a later turn of the event loop (the shared RefreshQueue):
// what happens to the session meanwhile must be seen when the check starts and when it ends.

const alice: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'custom', issuer: 'https://idp.test', scopes: [], sessionId: 's1', expiresAt: T0 + 60_000, claims: {} })
const later: AuthOutcome = { ok: true, principal: { ...alice, expiresAt: T0 + 120_000 } }

/** session-expiry (notice 1 s, grace 5 s) on a clock whose timers run late; /ws closes on `bye` and moves the clock past the deadline on `late`. */
async function app (t: Test, authenticate: (token: string) => Promise<AuthOutcome>) {
  const clock = new LateTimers(T0)
  const started = await bare(t, { noticeMs: 1_000, graceMs: 5_000, authenticate }, alice, {
    clock,
    onFrame: (text, _socket, req) => {
      if (text === 'bye') req.wsSession.close(4000, 'bye')
      else if (text === 'late') clock.ahead = 70_000
      else return false
      return true
    }
  })
  return { ...started, clock }
}

/**
 * Sends the frames in one write, so the server reads them in one go, before the refresh's turn.
 * The socket must not compress (compressed frames are written later, one by one), and the
 * server's ws emits the frames of one read synchronously (allowSynchronousEvents, its default
 * since ws 8.17; with it off each frame would wait a turn of its own).
 */
function together (ws: WebSocket, ...frames: string[]): void {
  const socket = (ws as unknown as { _socket: { cork: () => void, uncork: () => void } })._socket
  socket.cork()
  for (const f of frames) ws.send(f)
  socket.uncork()
}

const refresh = JSON.stringify({ type: 'auth.refresh', token: 'next' })
const plain = { perMessageDeflate: false }

t.test('a refresh whose session is closed before its turn is dropped unchecked', async (t) => {
  let checks = 0
  const { base } = await app(t, async () => { checks++; return later })
  const c = await open(t, `${base}/ws`, undefined, plain)
  together(c.ws, refresh, 'bye')
  t.same(await c.closed, { code: 4000, reason: 'bye' })
  t.equal(checks, 0, 'never checked')
})

t.test('a refresh whose session passed its deadline before its turn closes it 4401, unchecked', async (t) => {
  let checks = 0
  const { base } = await app(t, async () => { checks++; return later })
  const c = await open(t, `${base}/ws`, undefined, plain)
  const frames: string[] = []
  c.ws.on('message', (d) => { frames.push(String(d)) })
  together(c.ws, refresh, 'late')
  t.same(await c.closed, { code: 4401, reason: 'credential expired' })
  t.equal(checks, 0, 'never checked')
  t.same(frames, [], 'no answer')
})

t.test('a refresh whose check ends past the deadline does not renew the session: it closes 4401', async (t) => {
  let finish: (o: AuthOutcome) => void = () => {}
  const { base, clock } = await app(t, () => new Promise((resolve) => { finish = resolve }))
  const c = await open(t, `${base}/ws`)
  const frames: string[] = []
  c.ws.on('message', (d) => { frames.push(String(d)) })
  c.send(refresh)
  t.equal(await c.ask('sync'), 'echo:sync', 'the check has started')
  clock.ahead = 70_000
  finish(later)
  t.same(await c.closed, { code: 4401, reason: 'credential expired' })
  t.same(frames, ['echo:sync'], 'no auth.refreshed')
})

t.test('an authenticate option that throws where it is called refuses the refresh, WSG_UNAVAILABLE, and logs', async (t) => {
  const { base, logs } = await app(t, () => { throw new Error('not a promise') })
  const c = await open(t, `${base}/ws`)
  t.same(await c.ask(JSON.parse(refresh)), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' })
  const logged = logs.lines.map((l) => JSON.parse(l) as { msg: string, err?: { message: string } })
  t.match(logged, [{ msg: 'session-expiry: refresh check failed; refused', err: { message: 'not a promise' } }])
  t.equal(await c.ask('still'), 'echo:still', 'the socket stays open')
})

t.test('an authenticate option that answers synchronously (JavaScript) is taken as its answer', async (t) => {
  const { base } = await app(t, ((() => later) as unknown) as (token: string) => Promise<AuthOutcome>)
  const c = await open(t, `${base}/ws`)
  t.same(await c.ask(JSON.parse(refresh)), { type: 'auth.refreshed', expiresAt: T0 + 120_000 })
})
