// A client may close its own socket with wsguard's close codes and reasons (4401 "credential
// expired", 4403 "access revoked"). The audit trail says who closed (closedBy), and the metric
// counts wsguard's codes only for wsguard's closes, so neither reads as an expiry or revocation.
import t from 'tap'
import { openSocket } from '@wsguard/testing'
import { harness, open, until } from './helpers.js'
import { sample } from './prom.js'

const route = '/feed/:tenant'
const strip = (e: Record<string, unknown> | undefined): Record<string, unknown> => {
  const { at, sessionId, who, openedAt, durationMs, framesIn, framesOut, remoteAddress, ...rest } = e ?? {}
  return rest
}

t.test('a close the client chose is not evidenced as wsguard expiring or revoking the session', async (t) => {
  const h = await harness(t)
  const before = await h.metrics()

  // The real thing: alice's token expires, session-expiry closes 4401.
  const alice = await open(t, `${h.base}/feed/acme`, h.token('alice', 60))
  // mallory's token has an hour left; she closes her socket herself, with wsguard's code and words.
  const mallory = await open(t, `${h.base}/feed/acme`, h.token('mallory', 3600))
  mallory.ws.close(4401, 'credential expired')
  await mallory.closed
  h.clock.advance(120_000)
  t.equal((await alice.closed).code, 4401)
  await until(() => h.app.wsSessions.size === 0, 'both sessions ended')

  const after = await h.metrics()
  const delta = (code: string): number => sample(after, 'wsguard_session_duration_seconds_count', { route, code }) - sample(before, 'wsguard_session_duration_seconds_count', { route, code })
  const closed = h.audit().filter((e) => e.event === 'session.closed')
  const real = closed.find((e) => (e.who as { subject: string }).subject === 'alice')
  const forged = closed.find((e) => (e.who as { subject: string }).subject === 'mallory')
  t.equal(real?.closedBy, 'server')
  t.equal(forged?.closedBy, 'peer', 'the audit line says the peer closed it')
  t.equal(forged?.code, 4401, 'with the code it sent, as evidence of what it sent')
  t.notSame(strip(forged), strip(real), "the client's close differs from wsguard's in the audit line (beyond who and when)")
  t.equal(delta('4401'), 1, 'only the close wsguard made counts as code 4401')
  t.equal(delta('other'), 1, 'the client\'s 4401 counts as other')
})

t.test('a close reason and an Origin the client chose are written so the line reads as what was sent', async (t) => {
  const h = await harness(t)
  // Node sends and reads header values as latin1: NEL (U+0085) is a byte an Origin can carry.
  const c = await openSocket(`${h.base}/feed/acme`, { token: h.token('mallory', 3600), client: { origin: 'https://app.example\u0085' }, teardown: (fn) => t.teardown(fn) })
  c.ws.close(4000, 'bye\u202e\u2028fake line')
  await c.closed
  await until(() => h.app.wsSessions.size === 0, 'the session ended')
  const opened = h.audit().find((e) => e.event === 'session.opened')
  const closed = h.audit().find((e) => e.event === 'session.closed')
  t.equal(opened?.origin, 'https://app.example\\u0085')
  t.equal(closed?.origin, 'https://app.example\\u0085')
  t.equal(closed?.reason, 'bye\\u202e\\u2028fake line')
})
