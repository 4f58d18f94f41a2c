import t from 'tap'
import { SlidingWindow } from '../src/window.js'

t.test('a sliding window estimate from two fixed windows', async (t) => {
  const w = new SlidingWindow(1000, 100)
  for (let i = 0; i < 10; i++) w.hit('a', 500)
  t.equal(w.count('a', 999), 10)
  t.equal(w.count('a', 1000), 10, 'at the start of the next window, all of the previous one counts')
  t.equal(w.count('a', 1500), 5, 'half way, half of it')
  t.equal(w.hit('a', 1500), 6)
  t.equal(w.count('a', 3000), 0, 'two windows on, nothing')
  t.equal(w.count('nobody', 0), 0)
  t.same(w.add('a', 3200), { current: 1, previous: 0, start: 3000, elapsedMs: 200 }, 'the counts of both windows')
  t.same(w.add('a', 3300, 0), { current: 1, previous: 0, start: 3000, elapsedMs: 300 }, 'amount 0 reads')
  t.equal(w.firstReport('a', 3200), true)
  t.equal(w.firstReport('a', 3500), false)
  t.equal(w.firstReport('a', 4000), true, 'a new window')
})

t.test('memory is bounded: 100,000 distinct keys keep at most maxKeys', async (t) => {
  const w = new SlidingWindow(60_000, 1000)
  for (let i = 0; i < 100_000; i++) w.hit(`10.0.${i >> 8}.${i & 255}`, 1000)
  t.equal(w.size, 1000)
  t.equal(w.count('10.0.0.0', 1000), 0, 'the least recently seen were dropped')
  t.equal(w.count(`10.0.${99_999 >> 8}.${99_999 & 255}`, 1000), 1)
  const oldest = `10.0.${99_000 >> 8}.${99_000 & 255}`
  w.hit(oldest, 1000) // the oldest survivor, touched: it moves to the back
  w.hit('fresh', 1000)
  t.equal(w.count(oldest, 1000), 2, 'a touched key survives the next eviction')
  t.equal(w.count(`10.0.${99_001 >> 8}.${99_001 & 255}`, 1000), 0, 'the next oldest went instead')
})

t.test('second chance: when every key was touched, eviction unmarks them all and drops the oldest', async (t) => {
  const w = new SlidingWindow(60_000, 3)
  for (const k of ['a', 'b', 'c']) w.hit(k, 0)
  for (const k of ['c', 'b', 'a']) w.hit(k, 0) // all marked
  w.hit('d', 0)
  t.equal(w.size, 3)
  t.equal(w.count('a', 0), 0, 'the oldest insertion went')
  w.hit('e', 0)
  t.equal(w.count('b', 0), 0, 'then the next, whose mark the first pass cleared')
  t.same(['c', 'd', 'e'].map((k) => w.count(k, 0)), [2, 1, 1])
})

t.test('auditSubject carries only what the principal has', async (t) => {
  const { auditSubject } = await import('../src/audit.js')
  // What lands in the audit line: JSON leaves out the fields the principal lacks.
  const line = (p: Parameters<typeof auditSubject>[0]): unknown => JSON.parse(JSON.stringify({ who: auditSubject(p) })).who
  t.equal(auditSubject(null), undefined)
  t.equal(auditSubject(undefined), undefined)
  t.strictSame(line({ id: 'w', kind: 'workload', method: 'mtls', scopes: [], claims: {}, sessionId: 's' }), { subject: 'w', kind: 'workload', method: 'mtls', scopes: [], principalSessionId: 's' })
  t.strictSame(line({ id: 'a', kind: 'user', method: 'jwt', issuer: 'i', tokenId: 'j', expiresAt: 5, scopes: ['x'], claims: {}, sessionId: 's' }), { subject: 'a', issuer: 'i', kind: 'user', method: 'jwt', scopes: ['x'], principalSessionId: 's', tokenId: 'j', expiresAt: 5 })
})
