// Found by session 21's third review; only a write-back's last page clears the mark now.
import t from 'tap'
import { connect, createServer, type Server, type Socket, type AddressInfo } from 'node:net'
import type { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, principal, revocation, testClient, testPrefix } from './helpers.js'

// More than one RESTORE page (1,000 records each): the first page clears the lost mark
// (`ARGV[1] == '1'` → HDEL lost lostUntil) before the other pages are written. An instance cut
// off (crash, network, a commandTimeoutMs) after page 1 leaves Redis holding part of the records,
// unmarked: instances started later load that part, current at once, without a word; and the
// writer itself, back, finds the key there and unmarked and never writes the rest.

/** A relay to Redis that cuts every connection (and refuses new ones) as the 2nd RESTORE page is sent, once armed. */
async function pageCutter (t: { teardown: (fn: () => unknown) => void }): Promise<{ url: string, arm: () => void, cut: Promise<void>, start: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let server: Server
  let port = 0
  let armed = false
  let pages = 0
  let cutNow: () => void = () => {}
  const cut = new Promise<void>((resolve) => { cutNow = resolve })
  const stop = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const s of sockets) s.destroy()
    sockets.clear()
    await closed
  }
  const listen = async (): Promise<void> => {
    server = createServer((c) => {
      const up = connect(6379, '127.0.0.1')
      sockets.add(c).add(up)
      c.on('data', (chunk) => {
        const s = chunk.toString('latin1')
        if (armed && s.includes('revoked:meta') && s.includes('"filter"')) {
          pages++
          if (pages === 2) { armed = false; stop().then(cutNow, () => {}); return }
        }
        up.write(chunk)
      })
      up.pipe(c)
      const end = (): void => { c.destroy(); up.destroy(); sockets.delete(c); sockets.delete(up) }
      c.on('error', end).on('close', end)
      up.on('error', end).on('close', end)
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  }
  await listen()
  t.teardown(async () => { if (server.listening) await stop() })
  return { url: `redis://127.0.0.1:${port}`, arm: () => { armed = true }, cut, start: listen }
}

t.test('a write-back in pages cut after the first leaves the mark, and is finished when its instance is back', async (t) => {
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix) as Redis
  const relay = await pageCutter(t)
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

  relay.arm()
  await client.del(`{${keyPrefix}}revoked`) // evicted (volatile-*)
  await b.revocations.revoke(revocation({ subject: 'bob' }, until10m)) // marks the loss
  t.ok(Number(await client.hget(`{${keyPrefix}}revoked:meta`, 'lostUntil')) > 0, 'the loss is marked')
  // A and B both hold all the records (B loaded them); to see A's pages alone, B is closed now.
  await b.close()

  await relay.cut // A wrote page 1 (clearing the mark), and is cut off as it sends page 2
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
