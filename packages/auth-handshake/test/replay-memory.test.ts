import t from 'tap'
import { FakeClock } from '@wsguard/testing'
import { MemoryReplayStore } from '../src/index.js'

t.test('an id is claimed once until its until; then it may be claimed again', async (t) => {
  const clock = new FakeClock(1_000)
  const store = new MemoryReplayStore({ clock })
  t.equal(store.claim('a', 2_000), true, 'first use')
  t.equal(store.claim('a', 9_000), false, 'a replay')
  t.equal(store.claim('b', 2_000), true, 'another id')
  clock.set(2_000)
  t.equal(store.claim('a', 3_000), false, 'still in force at its until')
  clock.set(2_001)
  t.equal(store.claim('a', 3_000), true, 'past its until: the token it belonged to is refused anyway')
  store.release('a')
  t.equal(store.claim('a', 3_000), true, 'released: a retry is no replay')
  t.equal(new MemoryReplayStore().claim('x', Date.now() + 1_000), true, 'the system clock by default')
})

t.test('bounded: when full of ids in force a new id throws; expired ids make room, and are swept only once one can have expired', async (t) => {
  const clock = new FakeClock(0)
  const store = new MemoryReplayStore({ maxEntries: 3, clock })
  store.claim('a', 100)
  store.claim('b', 300)
  store.claim('c', 200)
  t.throws(() => store.claim('d', 400), { message: /MemoryReplayStore: 3 ids in force \(maxEntries\)/ }, 'full: refuse rather than forget')
  t.equal(store.claim('a', 500), false, 'a replay is still told apart when full')
  t.equal(store.size, 3)
  clock.set(150)
  t.equal(store.claim('d', 400), true, 'the expired id made room')
  t.equal(store.size, 3, 'a swept, d added')
  t.throws(() => store.claim('e', 400), { message: /3 ids in force/ }, 'nothing else expired (no sweep needed: the earliest is 200)')
  clock.set(250)
  t.equal(store.claim('c', 600), true, 'an expired id claimed again in place')
  t.throws(() => store.claim('e', 400), { message: /3 ids in force/ })
  clock.set(1_000)
  t.equal(store.claim('e', 2_000), true)
  t.equal(store.size, 1, 'one sweep dropped all that had expired')
})
