import t from 'tap'
import { performance } from 'node:perf_hooks'
import { mintToken } from '@wsguard/testing'
import { harness, open, connect, until, ISS, AUD } from './helpers.js'
import { sample } from './prom.js'

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

async function timed (fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

t.test('a reconnect storm by one principal is throttled; another principal keeps connecting', async (t) => {
  const h = await harness(t, { anomalies: { reconnectStorm: { perPrincipal: { max: 5, windowMs: 60_000 }, action: 'throttle' } } })
  const bobToken = h.token('bob')
  const baseline: number[] = []
  for (let i = 0; i < 5; i++) baseline.push(await timed(async () => { const c = await open(t, `${h.base}/feed/acme`, bobToken); c.ws.close() }))
  h.clock.advance(120_000) // bob's baseline falls out of the sliding window

  const aliceToken = h.token('alice')
  const outcomes: Array<number | 'open'> = []
  const during: number[] = []
  for (let i = 0; i < 20; i++) { // bounded: 20 attempts by alice, some followed by one by bob
    const r = await connect(t, `${h.base}/feed/acme`, aliceToken)
    if ('refused' in r) {
      outcomes.push(r.status)
      if (i === 5) {
        t.same(r.body, { statusCode: 429, code: 'WSG_RATE_LIMITED', error: 'Too Many Requests', message: 'Too many connection attempts' })
        t.equal(r.headers['retry-after'], '60')
      }
    } else {
      outcomes.push('open')
      r.ws.close()
    }
    // Bob connects while alice is being refused (4 times: under his own limit of 5).
    if (i >= 5 && i % 4 === 2) during.push(await timed(async () => { const c = await open(t, `${h.base}/feed/acme`, bobToken); c.ws.close() }))
  }
  t.same(outcomes, [...Array(5).fill('open'), ...Array(15).fill(429)], 'alice: 5 in the window, then 429')
  t.equal(during.length, 4, 'bob connected every time he tried while alice was throttled')
  t.ok(median(during) < median(baseline) * 10 + 50, `bob's handshake latency stays normal (median ${median(during).toFixed(1)} ms vs ${median(baseline).toFixed(1)} ms before)`)
  const anomalies = h.audit().filter((e) => e.event === 'anomaly')
  t.equal(anomalies.length, 1, 'reported once per window')
  t.match(anomalies[0], { kind: 'reconnect-storm', scope: 'principal', key: `${ISS.length}:${ISS}alice`, limit: 5, throttled: true, who: { subject: 'alice' } })
  t.equal(sample(await h.metrics(), 'wsguard_anomalies_total', { kind: 'reconnect-storm' }), 1)
  t.equal(sample(await h.metrics(), 'wsguard_handshakes_total', { route: '/feed/:tenant', outcome: 'rejected', code: 'WSG_RATE_LIMITED' }), 15)
  h.clock.advance(120_000)
  t.equal('refused' in (await connect(t, `${h.base}/feed/acme`, aliceToken)), false, 'the window passed')
})

t.test('a forged sub in a garbage token never counts against the real principal', async (t) => {
  const h = await harness(t, { anomalies: { reconnectStorm: { perPrincipal: { max: 3, windowMs: 60_000 }, action: 'throttle' } } })
  const other = (await import('@wsguard/testing')).generateKey('ES256')
  const forged = mintToken(other, { iss: ISS, aud: AUD, sub: 'alice', exp: Math.floor(h.clock.now() / 1000) + 600, tenant: 'acme' })
  for (let i = 0; i < 10; i++) {
    const r = await connect(t, `${h.base}/feed/acme`, forged)
    t.equal('refused' in r && r.status, 401, `forged ${i + 1}: 401, not 429`)
  }
  t.equal('refused' in (await connect(t, `${h.base}/feed/acme`, h.token('alice'))), false, 'the real alice connects')
  t.same(h.audit().filter((e) => e.event === 'anomaly'), [])
})

t.test('the per-IP gate answers 429 before any signature work', async (t) => {
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 3, windowMs: 10_000 }, action: 'throttle' } } })
  const sources: string[] = []
  const { ChannelName, channel } = await import('@wsguard/core')
  const l = (m: unknown): void => { sources.push((m as { source: string, code: string }).source + ' ' + (m as { code: string }).code) }
  channel(ChannelName.handshakeRejected).subscribe(l)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(l))
  for (let i = 0; i < 3; i++) t.equal('refused' in (await connect(t, `${h.base}/feed/acme`, 'garbage')) && 401, 401)
  const r = await connect(t, `${h.base}/feed/acme`, h.token('alice'))
  t.equal('refused' in r && r.status, 429, 'even a good token, from a storming IP')
  t.equal('refused' in r && r.headers['retry-after'], '10')
  t.same(sources, ['@wsguard/auth-handshake WSG_TOKEN_INVALID', '@wsguard/auth-handshake WSG_TOKEN_INVALID', '@wsguard/auth-handshake WSG_TOKEN_INVALID', '@wsguard/telemetry WSG_RATE_LIMITED'], 'auth-handshake never saw the 4th')
  t.match(h.audit().find((e) => e.event === 'anomaly'), { kind: 'reconnect-storm', scope: 'ip', key: '127.0.0.1', throttled: true })
})

t.test("action 'log' raises the anomaly and lets the handshake through", async (t) => {
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 1, windowMs: 10_000 } } } })
  for (let i = 0; i < 3; i++) (await open(t, `${h.base}/feed/acme`, h.token('alice'))).ws.close()
  t.match(h.audit().filter((e) => e.event === 'anomaly'), [{ kind: 'reconnect-storm', scope: 'ip', throttled: false }])
})

t.test('a failure spike against the moving baseline, with its reasons', async (t) => {
  const h = await harness(t, { anomalies: { failureSpike: { ratio: 5, minPerMinute: 10 } } })
  const fail = async (n: number, token?: string): Promise<void> => { for (let i = 0; i < n; i++) await connect(t, `${h.base}/feed/acme`, token) }
  h.clock.set(Math.floor(h.clock.now() / 60_000) * 60_000)
  await fail(4) // minute 0: baseline-to-be 4
  h.clock.advance(60_000)
  await fail(10) // 10 < 5 × 4: no spike
  t.same(h.audit().filter((e) => e.event === 'anomaly'), [])
  h.clock.advance(60_000) // baseline = 0.3 × 10 + 0.7 × 4 = 5.8; a spike needs 29
  await fail(20)
  await fail(8, 'garbage')
  t.same(h.audit().filter((e) => e.event === 'anomaly'), [])
  await fail(1, 'garbage')
  const spikes = h.audit().filter((e) => e.event === 'anomaly')
  t.match(spikes, [{ kind: 'failure-spike', count: 29, limit: 29, reasons: { WSG_CREDENTIAL_MISSING: 20, WSG_TOKEN_INVALID: 9 } }])
  await fail(5)
  t.equal(h.audit().filter((e) => e.event === 'anomaly').length, 1, 'once per minute')
  h.clock.advance(10 * 60_000) // quiet minutes pull the baseline down
  await fail(10)
  t.equal(h.audit().filter((e) => e.event === 'anomaly').length, 2, 'after a quiet spell, 10 is a spike again')
})

t.test('a long session is reported once', async (t) => {
  const h = await harness(t, { anomalies: { longSession: { afterMs: 120_000 } } })
  const c = await open(t, `${h.base}/feed/acme`, h.token('alice', 86_400))
  h.clock.advance(60_000)
  t.same(h.audit().filter((e) => e.event === 'anomaly'), [])
  h.clock.advance(60_000)
  h.clock.advance(180_000)
  const anomalies = h.audit().filter((e) => e.event === 'anomaly')
  t.match(anomalies, [{ kind: 'long-session', route: '/feed/:tenant', remoteAddress: '127.0.0.1', who: { subject: 'alice' } }])
  t.equal(typeof anomalies[0]?.sessionId, 'string')
  c.ws.close()
  await until(() => h.app.wsSessions.size === 0, 'closed')
  h.clock.advance(600_000)
  t.equal(h.clock.pendingTimers, 0, 'no timer left once no session is open')
})
