import t from 'tap'
import { setImmediate as turn } from 'node:timers/promises'
import { FakeClock } from '@wsguard/testing'
import { REFRESH_SLICE_MS, RefreshQueue, refreshQueueFor } from '../src/refresh-queue.js'

const fail = (err: unknown): void => { throw new Error(`unexpected: ${String(err)}`) }

t.test('jobs run after the current turn, in the order they were added', async (t) => {
  const q = new RefreshQueue(new FakeClock(0), fail)
  const ran: string[] = []
  q.add(() => { ran.push('a') })
  q.add(() => { ran.push('b') })
  t.equal(q.size, 2)
  t.same(ran, [], 'nothing runs where it is added')
  await turn()
  t.same(ran, ['a', 'b'], 'a clock that does not move: one turn runs them all')
  t.equal(q.size, 0)
})

t.test('a turn stops once REFRESH_SLICE_MS have passed by the clock; the rest run on later turns, in order', async (t) => {
  const clock = new FakeClock(0)
  const q = new RefreshQueue(clock, fail)
  const ran: number[] = []
  const turns: number[][] = []
  // Each job takes 1 ms of the clock's time: two fit a turn.
  for (let k = 0; k < 5; k++) q.add(() => { ran.push(k); clock.set(clock.now() + REFRESH_SLICE_MS / 2) })
  while (q.size > 0) {
    const before = ran.length
    await turn()
    turns.push(ran.slice(before))
  }
  t.same(turns, [[0, 1], [2, 3], [4]])
})

t.test('each turn runs at least one job, however slow; jobs added meanwhile wait behind the earlier ones', async (t) => {
  const clock = new FakeClock(0)
  const q = new RefreshQueue(clock, fail)
  const ran: string[] = []
  const slow = (name: string, then?: () => void) => () => { ran.push(name); clock.set(clock.now() + 10 * REFRESH_SLICE_MS); then?.() }
  q.add(slow('a', () => { q.add(slow('c')) }))
  q.add(slow('b'))
  await turn()
  t.same(ran, ['a'], 'one slow job fills a turn')
  t.equal(q.size, 2)
  await turn()
  t.same(ran, ['a', 'b'])
  await turn()
  t.same(ran, ['a', 'b', 'c'], 'added by a job: after the jobs already waiting')
  await turn()
  q.add(() => { ran.push('d') })
  await turn()
  t.same(ran, ['a', 'b', 'c', 'd'], 'an emptied queue starts again')
})

t.test('I/O and other callbacks run between turns', async (t) => {
  const clock = new FakeClock(0)
  const q = new RefreshQueue(clock, fail)
  const order: string[] = []
  for (let k = 0; k < 3; k++) q.add(() => { order.push(`job${k}`); clock.set(clock.now() + REFRESH_SLICE_MS) })
  setImmediate(() => { order.push('other') })
  while (q.size > 0) await turn()
  t.same(order, ['job0', 'other', 'job1', 'job2'], 'the callback queued after the first turn runs before the second')
})

t.test('a job that throws is reported, and the jobs behind it still run', async (t) => {
  const errors: unknown[] = []
  const q = new RefreshQueue(new FakeClock(0), (err) => { errors.push(err) })
  const ran: string[] = []
  q.add(() => { throw new Error('boom') })
  q.add(() => { ran.push('after') })
  await turn()
  t.match(errors, [{ message: 'boom' }])
  t.same(ran, ['after'])
  q.add(() => { ran.push('again') })
  await turn()
  t.same(ran, ['after', 'again'], 'and the queue takes more')
})

t.test('an onError that throws too does not stop the queue', async (t) => {
  const q = new RefreshQueue(new FakeClock(0), () => { throw new Error('the logger broke') })
  const ran: string[] = []
  q.add(() => { throw new Error('boom') })
  q.add(() => { ran.push('after') })
  await turn()
  t.same(ran, ['after'])
})

t.test('a clock that throws ends the turn, but not the queue', async (t) => {
  class Breaks extends FakeClock {
    breakOnce = false
    override now (): number {
      if (this.breakOnce) {
        this.breakOnce = false
        throw new Error('the clock broke')
      }
      return super.now()
    }
  }
  const clock = new Breaks(0)
  const q = new RefreshQueue(clock, fail)
  const ran: string[] = []
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown): void => { uncaught.push(err) }
  // tap's own handler would fail the test: this one takes the clock's error instead.
  const theirs = process.listeners('uncaughtException')
  process.removeAllListeners('uncaughtException')
  process.on('uncaughtException', onUncaught)
  t.teardown(() => {
    process.off('uncaughtException', onUncaught)
    for (const l of theirs) process.on('uncaughtException', l)
  })
  q.add(() => { ran.push('a'); clock.breakOnce = true })
  q.add(() => { ran.push('b') })
  await turn()
  await turn()
  t.match(uncaught, [{ message: 'the clock broke' }])
  t.same(ran, ['a', 'b'], 'the next turn ran the rest')
  t.equal(q.size, 0)
})

t.test('one queue per clock', async (t) => {
  const a = new FakeClock(0)
  t.equal(refreshQueueFor(a, fail), refreshQueueFor(a, fail))
  t.not(refreshQueueFor(a, fail), refreshQueueFor(new FakeClock(0), fail))
})
