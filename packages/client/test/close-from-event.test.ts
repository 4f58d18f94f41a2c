// Found by session 22's review: close() called from the app's onEvent handler (on 'closed',
// 'credential-failed', 'expiring') was undone by the reconnect logic that ran after the event:
// the client, reported stopped, armed a retry, asked getToken() again and opened a socket with
// a fresh credential ("the user signed out: stop when this socket closes").
import t from 'tap'
import type { Connection } from '../src/index.js'
import { harness } from './helpers.js'

const flush = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

for (const code of [1006, 4401, 4403, 4429]) {
  t.test(`close() inside onEvent('closed') after ${code}: stopped once, no timer, no credential asked, no socket`, async (t) => {
    const app: { conn?: Connection } = {}
    const h = harness(t, { onEvent: (e) => { if (e.type === 'closed') app.conn?.close() } })
    app.conn = h.client
    const first = await h.socket(1)
    first.accept()
    first.drop(code)
    t.same(h.of('stopped').map((e) => e.cause), ['closed'], 'told once that it stopped, as the app asked')
    t.equal(h.client.state, 'stopped')
    t.equal(h.clock.pendingTimers, 0, 'no retry armed')
    h.clock.advance(3_600_000)
    await flush()
    t.equal(h.sockets.length, 1, 'no other socket')
    t.same(h.tokenCalls, ['connect'], 'getToken() not asked again')
  })
}

t.test('close() inside onEvent(\'credential-failed\'): the client stops for good', async (t) => {
  const app: { conn?: Connection } = {}
  let calls = 0
  const h = harness(t, {
    getToken: () => { calls++; throw new Error('signed out') },
    onEvent: (e) => { if (e.type === 'credential-failed') app.conn?.close() }
  })
  app.conn = h.client
  await flush()
  for (let i = 0; i < 5; i++) {
    h.clock.advance(60_000)
    await flush()
  }
  t.equal(calls, 1, 'getToken() asked once')
  t.equal(h.of('stopped').length, 1, 'stopped once')
  t.equal(h.clock.pendingTimers, 0)
  t.equal(h.client.state, 'stopped')
})

t.test('close() inside onEvent(\'expiring\'): no refresh token is asked for or sent', async (t) => {
  const app: { conn?: Connection } = {}
  const h = harness(t, { onEvent: (e) => { if (e.type === 'expiring') app.conn?.close() } })
  app.conn = h.client
  const first = await h.socket(1)
  first.accept()
  first.receive({ type: 'auth.expiring', expiresAt: 2_000_000, deadline: 2_005_000 })
  await flush()
  t.same(h.tokenCalls, ['connect'], 'no refresh token asked')
  t.same(first.sent, [])
  t.equal(h.client.state, 'stopped')
})

t.test('a refresh that fails after close(): nothing is told after stopped', async (t) => {
  let fail: (err: Error) => void = () => {}
  const h = harness(t, {
    getToken: async ({ reason }) => reason === 'refresh' ? await new Promise<string>((_resolve, reject) => { fail = reject }) : 'token-1'
  })
  const first = await h.socket(1)
  first.accept()
  first.receive({ type: 'auth.expiring', expiresAt: 2_000_000, deadline: 2_005_000 })
  await flush()
  h.client.close()
  fail(new Error('signed out'))
  await flush()
  t.same(h.events.slice(-1).map((e) => e.type), ['stopped'], 'stopped is the last event')
  t.same(h.of('refresh-failed'), [])
})
