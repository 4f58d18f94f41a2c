import t from 'tap'
import { randomId } from '../src/index.js'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('randomId gives version-4 UUIDs, distinct across pool refills', async (t) => {
  // 4096 random bytes serve 256 ids: 2,000 ids draw the pool eight times.
  const seen = new Set<string>()
  let malformed = 0
  for (let i = 0; i < 2000; i++) {
    const id = randomId()
    if (!UUID_V4.test(id)) malformed++
    seen.add(id)
  }
  t.equal(malformed, 0, 'every id is a lowercase v4 UUID')
  t.equal(seen.size, 2000, 'no id repeats')
})

t.test('the ids\' hex digits are spread (not a constant buffer)', async (t) => {
  const counts = new Map<string, number>()
  for (let i = 0; i < 1000; i++) {
    for (const c of randomId().replace(/-/g, '').slice(13)) counts.set(c, (counts.get(c) ?? 0) + 1)
  }
  t.equal(counts.size, 16, 'all 16 digits appear in the random part')
})
