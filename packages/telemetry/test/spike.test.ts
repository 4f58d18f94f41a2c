import t from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import type { WindowCounts } from '@wsguard/core'
import { FakeClock } from '@wsguard/testing'
import { FailureSpikes, SpikeDetector, type Spike } from '../src/spike.js'
import { storeContext } from '../src/store.js'

const M = 60_000
const counts = (minute: number, current: number, previous = 0): WindowCounts => ({ current, previous, start: minute * M, elapsedMs: 0 })

t.test('the baseline follows completed minutes, shared totals, quiet minutes; a late answer is ignored', async (t) => {
  const d = new SpikeDetector(2, 5)
  t.equal(d.observe(counts(10, 4)), undefined, 'under the minimum')
  t.equal(d.observe(counts(10, 3)), undefined, 'an answer out of order keeps the highest count')
  // Minute 10 ended with 6 rejections on every instance together (the store's previous).
  t.equal(d.observe(counts(11, 1, 6)), undefined, 'baseline 6: a spike needs 12')
  t.equal(d.observe(counts(10, 9)), undefined, 'a late answer about minute 10 is ignored')
  t.equal(d.observe(counts(11, 11, 6)), undefined)
  t.equal(d.observe(counts(11, 12, 6)), 12, 'twice the baseline')
  // Minutes 12 and 13 seen by nobody here; minute 13 held 20 elsewhere (previous of minute 14).
  // baseline: 0.3 × 12 + 0.7 × 6 = 7.8, then 0.7 × 7.8 = 5.46 (minute 12), then 0.3 × 20 + 0.7 × 5.46 = 9.822
  t.equal(d.observe(counts(14, 19, 20)), undefined, 'a spike needs 19.644')
  const limit = d.observe(counts(14, 20, 20)) as number
  t.ok(Math.abs(limit - 19.644) < 1e-9, `limit ${limit}`)
})

function logger (): { log: FastifyBaseLogger, errors: unknown[] } {
  const errors: unknown[] = []
  const noop = (): void => {}
  const log = { error: (o: unknown) => { errors.push(o) }, warn: noop, info: noop } as unknown as FastifyBaseLogger
  return { log, errors }
}

t.test('rejections arriving while the store is asked go into the next command', async (t) => {
  const clock = new FakeClock(100 * M)
  const asked: number[] = []
  const answers: Array<(c: WindowCounts) => void> = []
  const store = {
    hit: (_key: string, _windowMs: number, _now: number, amount = 1) => {
      asked.push(amount)
      return new Promise<WindowCounts>((resolve) => { answers.push(resolve) })
    }
  }
  const raised: Spike[] = []
  const spikes = new FailureSpikes({ ratio: 2, minPerMinute: 5, store }, storeContext(clock, 1_000, logger().log, undefined), (s) => raised.push(s))
  spikes.count('WSG_TOKEN_INVALID', '/a')
  for (let i = 0; i < 4; i++) spikes.count('WSG_CREDENTIAL_MISSING', '/b')
  t.same(asked, [1], 'one command in flight')
  answers.shift()?.(counts(100, 1))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(asked, [1, 4], 'the four that came meanwhile, in one command')
  answers.shift()?.(counts(100, 5))
  await new Promise((resolve) => setImmediate(resolve))
  t.same(raised, [{ count: 5, limit: 5, reasons: { WSG_TOKEN_INVALID: 1, WSG_CREDENTIAL_MISSING: 4 }, route: '/b' }])
})

t.test('a synchronous store decides at once; after stop() nothing is raised', async (t) => {
  const clock = new FakeClock(100 * M)
  let total = 0
  const store = {
    hit: (_k: string, _w: number, _n: number, amount = 1) => {
      total += amount
      return counts(100, total)
    }
  }
  const raised: Spike[] = []
  const spikes = new FailureSpikes({ ratio: 2, minPerMinute: 2, store }, storeContext(clock, 1_000, logger().log, undefined), (s) => raised.push(s))
  spikes.count('WSG_TOKEN_INVALID', '/a')
  spikes.count('WSG_TOKEN_INVALID', '/a')
  t.match(raised, [{ count: 2, limit: 2 }])
  clock.advance(M)
  spikes.stop()
  for (let i = 0; i < 10; i++) spikes.count('WSG_TOKEN_INVALID', '/a')
  t.equal(raised.length, 1)
})

t.test('a failure while raising a spike from a late answer is logged, never an unhandled rejection', async (t) => {
  const clock = new FakeClock(100 * M)
  const { log, errors } = logger()
  const store = { hit: async () => counts(100, 9) }
  const spikes = new FailureSpikes({ ratio: 2, minPerMinute: 2, store }, storeContext(clock, 1_000, log, undefined), () => { throw new Error('raise failed') })
  spikes.count('WSG_TOKEN_INVALID', '/a')
  await new Promise((resolve) => setImmediate(resolve))
  t.match(errors, [{ err: { message: 'raise failed' } }])
})
