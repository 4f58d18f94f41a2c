// Found by session 21's third review; only a write-back's last page clears the mark now.
import t from 'tap'
import type { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, principal, revocation, startRelay, testClient, testPrefix } from './helpers.js'

// A write-back of more than one RESTORE page (1,000 records each), its instance cut off as it
// sends the second page (a crash, the network, a commandTimeoutMs): the first page cleared the
// lost mark, so instances started later loaded the part written, at once and without a word,
// and the writer itself, back, found the key there and unmarked and never wrote the rest.

t.test('a write-back in pages cut after the first leaves the mark, and is finished when its instance is back', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  // Armed, the relay cuts A off as it sends the second page of its write-back.
  let armed = false
  let pages = 0
  let cutNow: () => void = () => {}
  const cut = new Promise<void>((resolve) => { cutNow = resolve })
  const relay = await startRelay(t, 6379, (chunk) => {
    const text = chunk.toString('latin1')
    if (!armed || !text.includes('revoked:meta') || !text.includes('"filter"') || ++pages < 2) return false
    armed = false
    cutNow()
    return true
  })
  const a = redisStores({ url: relay.url }, { keyPrefix, blockMs: 200 })
  t.teardown(() => a.close())
  await a.ready()
  const until10m = Date.now() + 600_000
  for (let i = 0; i < 1_500; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => a.revocations.revoke(revocation({ subject: `u${i + j}` }, until10m))))
  }
  t.equal(await client.zcard(`{${keyPrefix}}revoked`), 1_500, '1,500 records in Redis')

  const b = redisStores({ url: REDIS_URL }, { keyPrefix, blockMs: 200 })
  t.teardown(() => b.close())
  await b.ready()

  armed = true
  await client.del(`{${keyPrefix}}revoked`) // evicted (volatile-*)
  await b.revocations.revoke(revocation({ subject: 'bob' }, until10m)) // marks the loss
  t.ok(Number(await client.hget(`{${keyPrefix}}revoked:meta`, 'lostUntil')) > 0, 'the loss is marked')
  // A and B both hold all the records (B loaded them); to see A's pages alone, B is closed now.
  await b.close()

  await cut // A wrote page 1, and is cut off as it sends page 2
  const kept = await client.zcard(`{${keyPrefix}}revoked`)
  t.not(await client.hget(`{${keyPrefix}}revoked:meta`, 'lostUntil'), null, 'page 1 left the mark: only the last page clears it')

  const warned: string[] = []
  const c = redisStores({ url: REDIS_URL }, { keyPrefix, logger: { warn (_o: unknown, m: string) { warned.push(m) }, info () {} } })
  t.teardown(() => c.close())
  await c.ready()
  // A comes back: does it finish the write-back?
  const up = new Promise((resolve) => { a.events.once('recovered', resolve) })
  await relay.start()
  await up
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 1_501, 'A finishes the write-back')
  t.equal(await client.zcard(`{${keyPrefix}}revoked`), 1_501, `every record back in Redis (after the cut it held ${kept}; now ${await client.zcard(`{${keyPrefix}}revoked`)})`)
  t.equal(c.revocations.isRevoked(principal('u1400'), Date.now()), true, 'an instance started after the cut refuses u1400')
  t.ok(warned.length > 0 || !c.revocations.current, `or it fails closed / says so (current=${String(c.revocations.current)}, warnings ${JSON.stringify(warned)})`)
})
