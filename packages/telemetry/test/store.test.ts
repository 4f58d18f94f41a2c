import t from 'tap'
import type { WindowCounter, WindowCounts } from '@wsguard/core'
import { harness, connect, until, ISS } from './helpers.js'
import { sample } from './prom.js'
import { SlidingWindow } from '../src/window.js'

/**
 * A counter store shared by several apps in this process, as `@wsguard/redis`'s is by
 * several instances: counts per key over fixed windows of the caller's clock. `mode` makes
 * it answer late, fail (reject), let the caller decide (undefined), or never answer.
 */
class SharedCounter implements WindowCounter {
  readonly windows = new Map<number, SlidingWindow>()
  readonly calls: Array<{ key: string, windowMs: number, amount: number }> = []
  mode: 'ok' | 'reject' | 'reject-text' | 'throw' | 'open' | 'hang' | 'garbage' | 'sync' | 'lost' | 'thenable' = 'ok'

  hit (key: string, windowMs: number, now: number, amount = 1): WindowCounts | undefined | Promise<WindowCounts | undefined> {
    this.calls.push({ key, windowMs, amount })
    if (this.mode === 'throw') throw new Error('store down')
    if (this.mode === 'open') return undefined
    if (this.mode === 'reject') return Promise.reject(new Error('store down'))
    const text: unknown = 'store down'
    if (this.mode === 'reject-text') return Promise.reject(text)
    if (this.mode === 'hang') return new Promise(() => {})
    if (this.mode === 'garbage') return Promise.resolve({ current: 'many' } as never)
    if (this.mode === 'lost') return Promise.resolve({ current: 1, previous: 0, start: now - (now % windowMs), elapsedMs: now % windowMs })
    let w = this.windows.get(windowMs)
    if (w === undefined) this.windows.set(windowMs, w = new SlidingWindow(windowMs, 1000))
    const counts = w.add(key, now, amount)
    if (this.mode === 'thenable') return { then: (ok: (v: WindowCounts) => unknown) => Promise.resolve(counts).then(ok) } as never
    return this.mode === 'sync' ? counts : Promise.resolve(counts)
  }
}

const warnings = (h: { logs: { lines: string[] } }): Array<Record<string, unknown>> =>
  h.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => typeof l.msg === 'string' && (l.msg as string).includes('counter store'))

t.test('a storm spread over two instances is counted once: 6 on A and 5 on B, the 11th is refused', async (t) => {
  const store = new SharedCounter()
  const opts = { anomalies: { reconnectStorm: { perIp: { max: 10, windowMs: 60_000 }, action: 'throttle' as const, store } } }
  const a = await harness(t, opts)
  const b = await harness(t, opts)
  const outcomes: Array<number | 'open'> = []
  for (let i = 0; i < 11; i++) {
    const h = i < 6 ? a : b
    const r = await connect(t, `${h.base}/feed/acme`, h.token('alice'))
    if ('refused' in r) outcomes.push(r.status)
    else {
      outcomes.push('open')
      r.ws.close()
    }
  }
  t.same(outcomes, [...Array(10).fill('open'), 429], 'neither instance alone saw more than 6')
  const last = await connect(t, `${b.base}/feed/acme`, b.token('alice'))
  t.equal('refused' in last && last.headers['retry-after'], '60')
  t.equal(store.calls.length, 12, 'one store call per handshake')
  t.same(store.calls[0], { key: 'ip 127.0.0.1', windowMs: 60_000, amount: 1 })
  t.match(b.audit().filter((e) => e.event === 'anomaly'), [{ kind: 'reconnect-storm', scope: 'ip', key: '127.0.0.1', count: 11, limit: 10, throttled: true }])
  t.same(a.audit().filter((e) => e.event === 'anomaly'), [], 'A saw no storm')
})

t.test('the per-principal gate counts a verified principal across instances', async (t) => {
  const store = new SharedCounter()
  store.mode = 'sync'
  const opts = { anomalies: { reconnectStorm: { perPrincipal: { max: 2, windowMs: 10_000 }, action: 'throttle' as const, store } } }
  const a = await harness(t, opts)
  const b = await harness(t, opts)
  t.equal('refused' in (await connect(t, `${a.base}/feed/acme`, a.token('alice'))), false)
  t.equal('refused' in (await connect(t, `${b.base}/feed/acme`, b.token('alice'))), false)
  const third = await connect(t, `${a.base}/feed/acme`, a.token('alice'))
  t.equal('refused' in third && third.status, 429)
  t.equal('refused' in (await connect(t, `${a.base}/feed/acme`, a.token('bob'))), false, 'another principal')
  t.same(store.calls.map((c) => c.key), [`principal ${ISS.length}:${ISS}alice`, `principal ${ISS.length}:${ISS}alice`, `principal ${ISS.length}:${ISS}alice`, `principal ${ISS.length}:${ISS}bob`])
})

t.test('fail-closed: a store that fails refuses throttled handshakes 503 with Retry-After, logged once, counted', async (t) => {
  const store = new SharedCounter()
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 100, windowMs: 60_000 }, action: 'throttle', store } } })
  for (const mode of ['reject', 'reject-text', 'throw', 'garbage'] as const) {
    store.mode = mode
    const r = await connect(t, `${h.base}/feed/acme`, h.token('alice'))
    t.equal('refused' in r && r.status, 503, mode)
    t.same('refused' in r && r.body, { statusCode: 503, code: 'WSG_UNAVAILABLE', error: 'Service Unavailable', message: 'An authentication dependency is unavailable' })
    t.equal('refused' in r && r.headers['retry-after'], '5')
  }
  t.equal(sample(await h.metrics(), 'wsguard_counter_store_unavailable_total', { use: 'ip', decision: 'refused' }), 4)
  const refused = h.audit().filter((e) => e.event === 'handshake.rejected')
  t.equal(refused.length, 4)
  t.ok(refused.every((e) => e.source === '@wsguard/telemetry' && e.code === 'WSG_UNAVAILABLE' && e.detail === 'counter-store'))
  t.match(warnings(h), [{ level: 40, use: 'ip', err: { message: 'store down' } }], 'one warning for the outage')
  store.mode = 'ok'
  t.equal('refused' in (await connect(t, `${h.base}/feed/acme`, h.token('alice'))), false, 'recovered by itself')
  t.match(warnings(h), [{ level: 40 }, { level: 30, msg: '@wsguard/telemetry: the counter store answers again' }])
  store.mode = 'reject'
  await connect(t, `${h.base}/feed/acme`, h.token('alice'))
  t.equal(warnings(h).length, 3, 'a new outage is logged again')
})

t.test('a store that never answers fails after storeTimeoutMs: no handshake hangs', async (t) => {
  const store = new SharedCounter()
  store.mode = 'hang'
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 100, windowMs: 60_000 }, action: 'throttle', store }, storeTimeoutMs: 300 } })
  const pending = connect(t, `${h.base}/feed/acme`, h.token('alice'))
  await until(() => store.calls.length === 1, 'the store was asked')
  h.clock.advance(299)
  t.equal(h.clock.pendingTimers > 0, true, 'still waiting')
  h.clock.advance(1)
  const r = await pending
  t.equal('refused' in r && r.status, 503)
  t.match(warnings(h), [{ err: { message: 'the counter store gave no answer within 300 ms' } }])
})

t.test('fail-open: a store that lets the gate decide alone falls back on this instance\'s window', async (t) => {
  const store = new SharedCounter()
  store.mode = 'open'
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 2, windowMs: 60_000 }, action: 'throttle', store } } })
  const outcomes: Array<number | 'open'> = []
  for (let i = 0; i < 3; i++) {
    const r = await connect(t, `${h.base}/feed/acme`, h.token('alice'))
    outcomes.push('refused' in r ? r.status : 'open')
  }
  t.same(outcomes, ['open', 'open', 429], 'the local window still gates')
  t.equal(sample(await h.metrics(), 'wsguard_counter_store_unavailable_total', { use: 'ip', decision: 'local' }), 3)
  t.match(warnings(h), [{ level: 40, msg: /deciding from this process's own counts/ }])
  t.notOk('err' in (warnings(h)[0] as object))
})

t.test("action 'log': a failing store never refuses, the local window still reports", async (t) => {
  const store = new SharedCounter()
  store.mode = 'reject'
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 1, windowMs: 60_000 }, store } } })
  for (let i = 0; i < 2; i++) t.equal('refused' in (await connect(t, `${h.base}/feed/acme`, h.token('alice'))), false)
  t.equal(sample(await h.metrics(), 'wsguard_counter_store_unavailable_total', { use: 'ip', decision: 'local' }), 2)
  t.match(h.audit().filter((e) => e.event === 'anomaly'), [{ kind: 'reconnect-storm', count: 2, throttled: false }])
})

t.test('a store that lost its counts (Redis flushed) does not reset the gate: this instance\'s own count is higher', async (t) => {
  const store = new SharedCounter()
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 2, windowMs: 60_000 }, action: 'throttle', store } } })
  for (let i = 0; i < 2; i++) t.equal('refused' in (await connect(t, `${h.base}/feed/acme`, h.token('alice'))), false)
  store.mode = 'lost'
  const r = await connect(t, `${h.base}/feed/acme`, h.token('alice'))
  t.equal('refused' in r && r.status, 429)
})

t.test('a failure spike counted across instances: neither alone reaches the minimum', async (t) => {
  const store = new SharedCounter()
  const opts = { anomalies: { failureSpike: { ratio: 5, minPerMinute: 10, store } } }
  const a = await harness(t, opts)
  const b = await harness(t, opts)
  for (const h of [a, b]) h.clock.set(Math.floor(h.clock.now() / 60_000) * 60_000)
  for (let i = 0; i < 6; i++) await connect(t, `${a.base}/feed/acme`)
  for (let i = 0; i < 4; i++) await connect(t, `${b.base}/feed/acme`, 'garbage')
  await until(() => b.audit().some((e) => e.event === 'anomaly'), 'B raised it')
  t.match(b.audit().filter((e) => e.event === 'anomaly'), [{ kind: 'failure-spike', count: 10, limit: 10, reasons: { WSG_TOKEN_INVALID: 4 } }], 'reasons are this instance\'s')
  t.same(a.audit().filter((e) => e.event === 'anomaly'), [])
  const amounts = store.calls.reduce((n, c) => n + c.amount, 0)
  t.equal(amounts, 10, 'every rejection counted once')
  t.ok(store.calls.every((c) => c.key === 'failures' && c.windowMs === 60_000))
})

t.test('a failure spike decides from this instance\'s counts while its store fails', async (t) => {
  const store = new SharedCounter()
  store.mode = 'reject'
  const h = await harness(t, { anomalies: { failureSpike: { ratio: 2, minPerMinute: 3, store } } })
  h.clock.set(Math.floor(h.clock.now() / 60_000) * 60_000)
  for (let i = 0; i < 3; i++) await connect(t, `${h.base}/feed/acme`)
  await until(() => h.audit().some((e) => e.event === 'anomaly'), 'raised from the local count')
  t.match(h.audit().filter((e) => e.event === 'anomaly'), [{ kind: 'failure-spike', count: 3, limit: 3 }])
  t.ok(sample(await h.metrics(), 'wsguard_counter_store_unavailable_total', { use: 'failure-spike', decision: 'local' }) >= 1)
})

t.test('a store that answers with a thenable (no native promise) is waited for like a promise (Z19)', async (t) => {
  const store = new SharedCounter()
  store.mode = 'thenable'
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 2, windowMs: 60_000 }, action: 'throttle', store } } })
  const statuses: Array<number | 'open'> = []
  for (let i = 0; i < 3; i++) {
    const c = await connect(t, `${h.base}/feed/acme`, h.token('alice'))
    statuses.push('refused' in c ? c.status : 'open')
    if (!('refused' in c)) c.ws.close()
  }
  t.same(statuses, ['open', 'open', 429], "counted by the store's answers: the third is over the limit, not a failed store's 503")
  t.equal(warnings(h).length, 0, 'no store failure logged')
})
