import t from 'tap'
import { createHash } from 'node:crypto'
import { TokenCache } from '../src/token-cache.js'

const TOKEN = `eyJhbGciOiJFUzI1NiJ9.${'a'.repeat(400)}.${'b'.repeat(86)}`

t.test('the cache is keyed by a digest of the token, never by its text', async (t) => {
  const cache = new TokenCache<string>(4, 1000)
  const key = cache.keyOf(TOKEN) as string
  t.equal(key, createHash('sha256').update(TOKEN).digest('base64url'))
  t.equal(key.length, 43)
  t.notOk(key.includes(TOKEN.slice(0, 20)), 'no part of the token is in the key')
  cache.set(key, 'claims', 0)
  t.equal(cache.get(cache.keyOf(TOKEN), 1), 'claims', 'the same token text finds its entry')
  t.equal(cache.get(cache.keyOf(`${TOKEN}x`), 1), undefined, 'another text does not')
  t.equal(cache.get(cache.keyOf(TOKEN.slice(0, -1)), 1), undefined, 'nor does a prefix of it')
})

t.test('entries expire after ttlMs, and the oldest goes first past max', async (t) => {
  const cache = new TokenCache<number>(2, 100)
  const a = cache.keyOf('a.b.c')
  const b = cache.keyOf('a.b.d')
  const c = cache.keyOf('a.b.e')
  cache.set(a, 1, 0)
  cache.set(b, 2, 0)
  t.equal(cache.get(a, 50), 1, 'a hit moves the entry to the end')
  cache.set(c, 3, 0)
  t.equal(cache.size, 2)
  t.equal(cache.get(b, 50), undefined, 'the least recently used went')
  t.equal(cache.get(a, 100), undefined, 'expired at until')
  t.equal(cache.get(c, 99), 3)
})

t.test('size 0: no digest is taken and nothing is kept', async (t) => {
  const cache = new TokenCache<number>(0, 100)
  const key = cache.keyOf(TOKEN)
  t.equal(key, undefined)
  cache.set(key, 1, 0)
  t.equal(cache.size, 0)
  t.equal(cache.get(key, 0), undefined)
})
