// Found by session 22's review: a getToken() or ticket request that never settles (an IdP or
// endpoint that accepts and never answers; browsers' fetch has no timeout) left the client
// 'connecting' for good, and one refresh that never settled turned in-band refresh off for
// every later socket of the connection. Both are now bounded by credentialTimeoutMs.
import t from 'tap'
import { harness } from './helpers.js'

const flush = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

t.test('a ticket request that never answers: credential-failed at credentialTimeoutMs, then the backoff', async (t) => {
  let requests = 0
  const h = harness(t, {
    ticketUrl: 'https://api.test/ws-tickets',
    credentialTimeoutMs: 2_000,
    fetch: async () => { requests++; return await new Promise<Response>(() => {}) }
  })
  await flush()
  h.clock.advance(1_999)
  await flush()
  t.same(h.of('credential-failed'), [], 'not before the timeout')
  h.clock.advance(1)
  await flush()
  const [failed] = h.of('credential-failed')
  t.match(failed?.error, { name: 'CredentialError', message: 'no credential within 2000 ms' })
  t.equal(h.client.state, 'waiting', 'it backs off')
  h.clock.advance(1_000) // the first backoff is within baseDelayMs
  await flush()
  t.equal(requests, 2, 'and tries again')
})

t.test('the default: 10 s', async (t) => {
  const h = harness(t, { getToken: async () => await new Promise<string>(() => {}) })
  await flush()
  h.clock.advance(9_999)
  await flush()
  t.equal(h.of('credential-failed').length, 0)
  h.clock.advance(1)
  await flush()
  t.equal(h.of('credential-failed').length, 1)
})

t.test('a credential that comes in time leaves no timer behind', async (t) => {
  const h = harness(t)
  const first = await h.socket(1)
  first.accept()
  t.equal(h.clock.pendingTimers, 0)
})

t.test('a refresh getToken() that never settles: refresh-failed at the timeout, and the next socket refreshes', async (t) => {
  let n = 0
  const h = harness(t, {
    getToken: async ({ reason }) => {
      n++
      // the first refresh hangs for ever; every other call answers at once
      if (n === 2) return await new Promise<string>(() => {})
      return `token-${n}-${reason}`
    }
  })
  const first = await h.socket(1)
  first.accept()
  first.receive({ type: 'auth.expiring', expiresAt: 2_000_000, deadline: 2_005_000 })
  await flush()
  t.same(first.sent, [], 'nothing sent while it hangs')
  h.clock.advance(10_000)
  await flush()
  t.match(h.of('refresh-failed'), [{ error: { message: 'no credential within 10000 ms' } }], 'the app is told')
  first.drop(4401, 'credential expired')
  // The prompt reconnect after 4401 is within promptJitterMs (1 s). (A FakeClock runs, within
  // one advance, timers armed meanwhile: advancing past the next credential's timeout would fire it.)
  h.clock.advance(1_000)
  const second = await h.socket(2)
  second.accept()
  second.receive({ type: 'auth.expiring', expiresAt: 3_000_000, deadline: 3_005_000 })
  await flush(); await flush()
  t.same(second.sent, [JSON.stringify({ type: 'auth.refresh', token: 'token-4-refresh' })], 'the new socket refreshes')
})

t.test('a refresh still being fetched when its socket closes holds up no refresh of the next socket', async (t) => {
  let release: (token: string) => void = () => {}
  let n = 0
  const h = harness(t, {
    credentialTimeoutMs: 3_600_000,
    getToken: async ({ reason }) => {
      n++
      if (n === 2) return await new Promise<string>((resolve) => { release = resolve })
      return `token-${n}-${reason}`
    }
  })
  const first = await h.socket(1)
  first.accept()
  first.receive({ type: 'auth.expiring', expiresAt: 2_000_000, deadline: 2_005_000 })
  await flush()
  first.drop(1006)
  h.clock.advance(1_000)
  const second = await h.socket(2)
  second.accept()
  second.receive({ type: 'auth.expiring', expiresAt: 3_000_000, deadline: 3_005_000 })
  await flush(); await flush()
  t.same(second.sent, [JSON.stringify({ type: 'auth.refresh', token: 'token-4-refresh' })], 'the second socket refreshed')
  release('token-late')
  await flush()
  t.same(first.sent, [], 'the late token goes nowhere: its socket is gone')
  t.equal(second.sent.length, 1)
})
