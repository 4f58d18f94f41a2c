// Full-jitter backoff: bounds and spread; the 4429 hint; and a fleet of clients after a
// server restart spreading its reconnects instead of arriving at once.
import t from 'tap'
import { FakeClock, until } from '@wsguard/testing'
import { backoffDelay, connect, DEFAULT_STABLE_AFTER_MS, hintedDelayMs } from '../src/index.js'
import { fakeWebSocket, seeded } from './helpers.js'

/** How many of `values` fall in each of `buckets` equal slices of [0, max]. */
function histogram (values: number[], max: number, buckets: number): number[] {
  const counts: number[] = new Array<number>(buckets).fill(0)
  for (const v of values) counts[Math.min(buckets - 1, Math.floor((v / max) * buckets))]++
  return counts
}

t.test('1,000 draws stay within [0, cap] and spread over the whole range', async (t) => {
  const random = seeded(7)
  for (const [failures, cap] of [[0, 1_000], [3, 8_000], [5, 30_000], [40, 30_000], [2_000, 30_000]]) {
    const draws = Array.from({ length: 1_000 }, () => backoffDelay(failures as number, 1_000, 30_000, random))
    t.ok(draws.every((d) => d >= 0 && d <= (cap as number)), `failures ${failures}: within [0, ${cap}]`)
    const counts = histogram(draws, cap as number, 10)
    t.ok(counts.every((c) => c >= 60 && c <= 140), `failures ${failures}: every tenth of the range holds 60-140 of 1,000 (${counts.join(' ')})`)
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length
    t.ok(Math.abs(mean - (cap as number) / 2) < (cap as number) * 0.05, `failures ${failures}: mean ${Math.round(mean)} near ${(cap as number) / 2}`)
  }
})

t.test('the extremes of random() give exactly 0 and the cap', async (t) => {
  t.equal(backoffDelay(0, 1_000, 30_000, () => 0), 0)
  t.equal(backoffDelay(4, 1_000, 30_000, () => 1), 16_000)
  t.equal(backoffDelay(9, 1_000, 30_000, () => 1), 30_000)
})

t.test('hintedDelayMs reads retry-after (seconds) from a close reason', async (t) => {
  t.equal(hintedDelayMs('retry-after=30'), 30_000)
  t.equal(hintedDelayMs('Retry-After: 5'), 5_000)
  t.equal(hintedDelayMs('WSG_RATE_LIMITED retry_after 12'), 12_000)
  t.equal(hintedDelayMs('retry after 0 s'), 0)
  t.equal(hintedDelayMs('too many sessions'), undefined)
  t.equal(hintedDelayMs('retry-after=soon'), undefined)
  t.equal(hintedDelayMs('retry-after=12345678'), undefined, 'seven digits and more are no hint')
})

t.test('no reconnect storm after a server restart: 200 clients spread their reconnects', async (t) => {
  const N = 200
  const JITTER_MS = 1_000
  const clock = new FakeClock(5_000_000)
  const { WebSocket, sockets } = fakeWebSocket()
  const random = seeded(2026)
  const clients = Array.from({ length: N }, () => connect({
    url: 'wss://api.test/feed', protocols: ['feed.v1'], getToken: () => 'tok', WebSocket, clock, random, promptJitterMs: JITTER_MS
  }))
  t.teardown(() => { for (const c of clients) c.close() })
  await until(() => sockets.length === N, 'every client connected')
  for (const s of sockets) s.accept()
  clock.advance(DEFAULT_STABLE_AFTER_MS)

  // The server restarts: every socket closes 1001 at the same instant.
  const restartedAt = clock.now()
  const reconnectAt: number[] = []
  for (const s of sockets.slice()) s.drop(1001, 'server shutting down')
  for (let step = 0; step < JITTER_MS / 10; step++) {
    const before = sockets.length
    clock.advance(10)
    await new Promise((resolve) => setImmediate(resolve))
    for (let i = before; i < sockets.length; i++) reconnectAt.push(clock.now() - restartedAt)
  }
  t.equal(reconnectAt.length, N, 'every client came back within promptJitterMs')
  const counts = histogram(reconnectAt.map((ms) => ms - 1), JITTER_MS, 10)
  t.ok(Math.max(...counts) <= N * 0.2, `no tenth of the second holds more than 20% of the clients (${counts.join(' ')})`)
  t.ok(counts.every((c) => c > 0), 'every tenth of the second holds some')

  // The server is still down: each attempt fails (1006), and the next ones spread over [0, base].
  const failedAt = clock.now()
  const secondWave: number[] = []
  for (const s of sockets.slice(N)) s.drop(1006)
  for (let step = 0; step < 100; step++) {
    const before = sockets.length
    clock.advance(10)
    await new Promise((resolve) => setImmediate(resolve))
    for (let i = before; i < sockets.length; i++) secondWave.push(clock.now() - failedAt)
  }
  t.equal(secondWave.length, N)
  const wave = histogram(secondWave.map((ms) => ms - 1), 1_000, 10)
  t.ok(Math.max(...wave) <= N * 0.2, `the backoff after the failed attempt spreads too (${wave.join(' ')})`)
})
