import t from 'tap'
import fc from 'fast-check'
import { FakeClock } from '@wsguard/testing'
import { CATCH_UP_MS, Scheduler, schedulerFor, SLICE_MS, type Scheduled } from '../src/scheduler.js'
import type { TimerClock, TimerHandle } from '@wsguard/core'

function item (log: Array<[string, number]>, name: string, onFire?: () => void): Scheduled & { name: string } {
  return { name, dueAt: 0, heapIndex: -1, fire (now) { log.push([name, now]); onFire?.() } }
}

t.test('fires in due order on one timer; moving and cancelling work', async (t) => {
  const clock = new FakeClock(0)
  const errors: unknown[] = []
  const s = new Scheduler(clock, (e) => errors.push(e))
  const log: Array<[string, number]> = []
  const a = item(log, 'a')
  const b = item(log, 'b')
  const c = item(log, 'c')
  s.arm(a, 300)
  s.arm(b, 100)
  s.arm(c, 200)
  t.equal(clock.pendingTimers, 1, 'one timer for three deadlines')
  s.arm(b, 400) // later
  s.arm(c, 50) // earlier
  s.cancel(a)
  s.cancel(a) // twice is harmless
  t.equal(s.size, 2)
  clock.advance(1000)
  t.same(log, [['c', 50], ['b', 400]])
  t.equal(s.size, 0)
  t.equal(clock.pendingTimers, 0, 'nothing armed, no timer')
  t.same(errors, [])
})

t.test('an item can re-arm itself while firing; a throw is reported, not fatal', async (t) => {
  const clock = new FakeClock(0)
  const errors: unknown[] = []
  const s = new Scheduler(clock, (e) => errors.push(e))
  const log: Array<[string, number]> = []
  let n = 0
  const again: Scheduled = { dueAt: 0, heapIndex: -1, fire (now) { log.push(['again', now]); if (++n < 3) s.arm(again, now + 10) } }
  const boom: Scheduled = { dueAt: 0, heapIndex: -1, fire () { throw new Error('boom') } }
  s.arm(again, 10)
  s.arm(boom, 15)
  clock.advance(100)
  t.same(log, [['again', 10], ['again', 20], ['again', 30]])
  t.match(errors, [{ message: 'boom' }])
})

t.test('a deadline beyond what setTimeout can wait is re-armed when the timer fires early', async (t) => {
  const clock = new FakeClock(0)
  const s = new Scheduler(clock, () => {})
  const log: Array<[string, number]> = []
  s.arm(item(log, 'far'), 2 ** 32)
  clock.advance(2 ** 31 - 1)
  t.same(log, [])
  t.equal(clock.pendingTimers, 1)
  clock.advance(2 ** 32)
  t.same(log, [['far', 2 ** 32]])
})

t.test('one scheduler per clock', async (t) => {
  const clock = new FakeClock(0)
  t.equal(schedulerFor(clock, () => {}), schedulerFor(clock, () => {}))
  t.not(schedulerFor(clock, () => {}), schedulerFor(new FakeClock(0), () => {}))
})

t.test('property: random arms, moves and cancels fire exactly the live items, in due order', async (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('arm' as const), id: fc.nat(19), at: fc.nat(1000) }),
    fc.record({ kind: fc.constant('cancel' as const), id: fc.nat(19) })
  )
  fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
    const clock = new FakeClock(0)
    const s = new Scheduler(clock, (e) => { throw e })
    const fired: Array<[number, number]> = []
    const items = Array.from({ length: 20 }, (_, id): Scheduled => ({ dueAt: 0, heapIndex: -1, fire (now) { fired.push([id, now]) } }))
    const expected = new Map<number, number>()
    for (const o of ops) {
      if (o.kind === 'arm') { s.arm(items[o.id] as Scheduled, o.at); expected.set(o.id, o.at) } else { s.cancel(items[o.id] as Scheduled); expected.delete(o.id) }
    }
    clock.advance(2000)
    const want = [...expected.entries()].sort((x, y) => x[1] - y[1]).map(([, at]) => at)
    return fired.length === expected.size && fired.every(([id, now], i) => expected.get(id) === now && now === want[i]) && s.size === 0
  }), { numRuns: 300 })
  t.pass('300 random sequences')
})

/** A clock the test's items move as they fire, with its timers in the test's hands. */
function handClock (): { clock: TimerClock, timers: Array<{ fn: () => void, delayMs: number }>, at: { now: number } } {
  const at = { now: 0 }
  const timers: Array<{ fn: () => void, delayMs: number }> = []
  const clock: TimerClock = {
    now: () => at.now,
    setTimer: (fn, delayMs) => { const h = { fn, delayMs }; timers.push(h); return h as TimerHandle },
    clearTimer: (h) => {
      const i = timers.indexOf(h as typeof timers[number])
      if (i < 0) throw new Error('cleared a timer that is not armed')
      timers.splice(i, 1)
    }
  }
  return { clock, timers, at }
}

t.test('one turn fires due items for at most SLICE_MS of the clock; the rest fire on the next turn', async (t) => {
  const { clock, timers, at } = handClock()
  const errors: unknown[] = []
  const s = new Scheduler(clock, (e) => errors.push(e))
  const log: Array<[string, number]> = []
  for (let i = 0; i < 5; i++) s.arm(item(log, `i${i}`, () => { at.now += 1 }), 10)
  t.equal(timers.length, 1)
  at.now = 10
  ;(timers.shift() as typeof timers[number]).fn()
  t.equal(log.length, 2, `${SLICE_MS} ms of firing (1 ms each), then it yields`)
  t.same(timers.map((x) => x.delayMs), [0], 'what is still due is re-armed at once, for the next turn')
  ;(timers.shift() as typeof timers[number]).fn()
  t.equal(log.length, 4)
  ;(timers.shift() as typeof timers[number]).fn()
  t.same(log.map(([name]) => name).sort(), ['i0', 'i1', 'i2', 'i3', 'i4'], 'each fired once (equal deadlines in no set order)')
  t.equal(timers.length, 0, 'nothing left, no timer')
  t.equal(s.size, 0)
  t.same(errors, [])
})

t.test('a turn always fires one item, and items CATCH_UP_MS late are not held back', async (t) => {
  const { clock, timers, at } = handClock()
  const s = new Scheduler(clock, () => {})
  const log: Array<[string, number]> = []
  // Each item moves the clock past the whole slice: one per turn while they are on time…
  for (let i = 0; i < 3; i++) s.arm(item(log, `slow${i}`, () => { at.now += SLICE_MS + 5 }), 10)
  at.now = 10
  ;(timers.shift() as typeof timers[number]).fn()
  t.equal(log.length, 1, 'the first item fires even though it used up the slice')
  // …and all at once when the turn starts CATCH_UP_MS past their deadline.
  at.now = 10 + CATCH_UP_MS
  ;(timers.shift() as typeof timers[number]).fn()
  t.equal(log.length, 3, 'the late ones all fired in one turn')
  t.equal(timers.length, 0)
})
