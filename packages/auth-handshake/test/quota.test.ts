import t from 'tap'
import { FakeClock } from '@wsguard/testing'
import { ExpiringQuota } from '../src/quota.js'

t.test('full: a new key is refused, or takes the place of the key holding the fewest unexpired entries', async (t) => {
  const clock = new FakeClock(1_000)
  const refusing = new ExpiringQuota(3, 2, clock)
  const evicting = new ExpiringQuota(3, 2, clock, true)
  for (const q of [refusing, evicting]) {
    // a: two entries, one of them expiring soon; b: two entries in force for long
    q.take('a', 1_010)
    q.take('a', 5_000)
    q.take('b', 5_000)
    q.take('b', 5_000)
  }
  clock.advance(20)
  t.equal(refusing.take('c', 5_000), 'full', 'refused: nothing expired whole')
  t.equal(evicting.take('c', 5_000), 'ok')
  t.equal(evicting.size, 2)
  t.equal(evicting.take('b', 5_000), 'ok', 'b kept: it holds two in force, a one')
  t.equal(evicting.take('b', 5_000), 3_980, 'b at its share')
  t.equal(evicting.take('a', 5_000), 'ok', 'a was forgotten: counted again from nothing (c, with one, goes)')
})

t.test('full, every key holding two or more: the one holding the fewest goes, wherever it is', async (t) => {
  const clock = new FakeClock(1_000)
  const q = new ExpiringQuota(3, 2, clock, true)
  for (const key of ['x', 'x', 'y', 'y', 'y']) q.take(key, 5_000)
  t.equal(q.take('z', 5_000), 'ok')
  t.equal(q.take('y', 5_000), 4_000, 'y kept, at its share')
  t.equal(q.take('x', 5_000), 'ok', 'x (two) went: counted again from nothing, in place of z (one)')
  t.equal(q.take('x', 5_000), 'ok')
  t.equal(q.take('x', 5_000), 'ok')
  t.equal(q.take('x', 5_000), 4_000)
})
