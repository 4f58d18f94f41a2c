import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { until } from '@wsguard/testing'
import { ChannelName, type SessionClosedMessage } from '@wsguard/core'
import { harness, listen, open, type Client, type Harness } from './helpers.js'
import { answers, nextPingTag, pingPayload } from '../src/ping-tag.js'

// RFC 6455 allows a pong that no ping asked for. Counted as an answer, it let a client that
// never reads keep the heartbeat satisfied (one pong per heartbeat) while everything the app
// sent it piled up in the server. Only the echo of the last ping's random tag answers it now,
// and to read that tag a client must have read everything sent before it.

const HEARTBEAT = 1_000

async function setup (t: Test): Promise<Harness & { pongs: () => number }> {
  let pongs = 0
  const h = await harness(t, {
    session: { heartbeatMs: HEARTBEAT },
    routes: (app) => {
      app.get('/watched', { websocket: true, config: { auth: { scopes: ['feed:read'] } } }, (socket) => {
        socket.on('pong', () => { pongs++ }) // the app still sees every pong
        socket.on('message', (data) => socket.send(`echo:${String(data)}`))
      })
    }
  })
  return { ...h, pongs: () => pongs }
}

/** Waits until the server's app has seen `n` pongs in all. */
const seen = (pongs: () => number, n: number): Promise<void> => until(() => pongs() >= n, `${n} pongs seen by the server`)

t.test('a client that reads nothing but writes pongs of its own is cut by the heartbeat, 4408', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { clock, base, token, pongs } = await setup(t)
  const c = await open(t, `${base}/watched`, token('mallory', 3600), { autoPong: false })
  c.ws.pause() // never reads another byte, pings included
  let sent = 0
  // Before any ping, then after each: an empty pong, six zero bytes (the "no ping" tag), six random bytes.
  for (let beat = 0; beat < 3; beat++) {
    for (const data of [Buffer.alloc(0), Buffer.alloc(6), randomBytes(6)]) { c.ws.pong(data); sent++ }
    await seen(pongs, sent)
    clock.advance(HEARTBEAT)
  }
  await until(() => closes.seen.some((m) => m.principal?.id === 'mallory'), 'the session closed')
  t.match(closes.seen.find((m) => m.principal?.id === 'mallory'), { closeCode: 4408, reason: 'heartbeat timeout' })
  t.equal(pongs(), sent, 'each pong reached the app')
  c.ws.terminate()
})

t.test('echoing an earlier ping\'s tag does not answer a later ping', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { clock, base, token, pongs } = await setup(t)
  const c = await open(t, `${base}/watched`, token('mallory', 3600), { autoPong: false })
  const pinged = (): Promise<Buffer> => new Promise((resolve) => c.ws.once('ping', resolve))
  let ping = pinged()
  clock.advance(HEARTBEAT)
  const first = await ping
  c.ws.pong(first) // a real answer
  await seen(pongs, 1)
  for (let beat = 0; beat < 2; beat++) {
    ping = pinged()
    clock.advance(HEARTBEAT)
    t.not((await ping).toString('hex'), first.toString('hex'), `ping ${beat + 2} carries a fresh tag`)
    c.ws.pong(first) // the old tag, replayed
    await seen(pongs, beat + 2)
  }
  t.equal(await c.ask('alive?'), 'echo:alive?', 'open: one ping unanswered is tolerated')
  clock.advance(HEARTBEAT)
  await until(() => closes.seen.some((m) => m.principal?.id === 'mallory'), 'the session closed')
  t.match(closes.seen.find((m) => m.principal?.id === 'mallory'), { closeCode: 4408, reason: 'heartbeat timeout' })
})

t.test('a reader more than one heartbeat behind but less than two stays open: the late echo of the ping before counts', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { app, clock, base, token, pongs } = await setup(t)
  const c = await open(t, `${base}/watched`, token('slow', 3600), { autoPong: false })
  let held: Buffer | undefined
  let echoed = 0
  for (let beat = 1; beat <= 8; beat++) {
    const pinged = new Promise<Buffer | undefined>((resolve) => {
      c.ws.once('ping', resolve)
      c.ws.once('close', () => { resolve(undefined) })
    })
    clock.advance(HEARTBEAT)
    const payload = await pinged
    if (payload === undefined) break // cut: the assertions below say so
    // Each echo goes out only after the next ping was sent: every answer is a heartbeat late.
    if (held !== undefined) {
      c.ws.pong(held)
      await seen(pongs, ++echoed)
    }
    held = payload
  }
  t.equal(app.wsSessions.size, 1, 'open after eight heartbeats, each echo late')
  t.same(closes.seen.filter((m) => m.principal?.id === 'slow'), [])
})

t.test('a client that echoes one ping late, then stops, is cut three heartbeats after that echo', async (t) => {
  const closes = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const { clock, base, token, pongs } = await setup(t)
  const c = await open(t, `${base}/watched`, token('quitter', 3600), { autoPong: false })
  const pinged = (): Promise<Buffer> => new Promise((resolve) => c.ws.once('ping', resolve))
  let ping = pinged()
  clock.advance(HEARTBEAT) // ping 1
  const first = await ping
  ping = pinged()
  clock.advance(HEARTBEAT) // ping 2; ping 1 missed
  await ping
  c.ws.pong(first) // ping 1 echoed late: it still counts, and is the last echo
  await seen(pongs, 1)
  clock.advance(HEARTBEAT) // ping 3
  clock.advance(HEARTBEAT) // ping 4; ping 3 missed
  t.equal(await c.ask('alive?'), 'echo:alive?', 'open two heartbeats after the echo: one ping missed is tolerated')
  clock.advance(HEARTBEAT) // ping 4 missed too
  await until(() => closes.seen.some((m) => m.principal?.id === 'quitter'), 'the session closed')
  t.match(closes.seen.find((m) => m.principal?.id === 'quitter'), { closeCode: 4408, reason: 'heartbeat timeout' })
})

t.test('a client that echoes each ping stays open, its pongs answering across many heartbeats', async (t) => {
  const { app, clock, base, token, pongs } = await setup(t)
  const c: Client = await open(t, `${base}/watched`, token('alice', 3600)) // ws echoes each ping's payload
  for (let beat = 1; beat <= 6; beat++) {
    clock.advance(HEARTBEAT)
    await seen(pongs, beat)
  }
  t.equal(app.wsSessions.size, 1)
  t.equal(await c.ask('still here'), 'echo:still here')
})

t.test('ping tags: never 0, fresh each time, read back only from their own payload', async (t) => {
  // More than one pool of random bytes (1,024 tags each), so the pool is refilled at least twice.
  const tags = Array.from({ length: 2_500 }, () => nextPingTag())
  t.same(tags.filter((tag) => !Number.isSafeInteger(tag) || tag < 1 || tag > 2 ** 47), [], 'each a whole number in [1, 2^47]')
  t.equal(new Set(tags).size, 2_500, 'no tag repeated in 2,500 (2^47 of them)')
  const tag = nextPingTag()
  const payload = pingPayload(tag)
  t.ok(answers(Buffer.from(payload), tag), 'its own payload, copied')
  t.notOk(answers(payload.subarray(0, 5), tag), 'a shorter payload')
  t.notOk(answers(Buffer.concat([payload, Buffer.alloc(1)]), tag), 'a longer one')
  t.notOk(answers(pingPayload(tag + 1), tag), 'another tag\'s')
  t.notOk(answers([...payload], tag), 'not a Buffer')
  t.notOk(answers(Buffer.alloc(6), 0), 'never for 0 (no ping awaiting): six zero bytes answer nothing')
})
