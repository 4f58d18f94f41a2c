// Clients that never read while the server sends to them: their data piles up in the server,
// until session-expiry's heartbeat (on the fake clock) finds two pongs missing and cuts them
// off, reported as 4408 'heartbeat timeout'. Other clients' handshakes keep their pace.
import t, { type Test } from 'tap'
import { appIdentity, channel, ChannelName, type SessionClosedMessage } from '@wsguard/core'
import { until, type SocketClient } from '@wsguard/testing'
import { compareUnderLoad, describe, handshakeTimes, RATIO, settle, withinRatio, type Comparison } from './latency.js'
import { securityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

const HEARTBEAT_MS = 30_000
const PAUSED_CLIENTS = 2
const FRAMES = 128
const FRAME_BYTES = 65_536 // 8 MB asked for by each paused client: the kernel's socket buffers take about 4
const STUCK_BYTES = 1_000_000 // what must be stuck in the server, per client, before the load counts as on
const RUNS = 5
const ATTEMPTS = 2
const HANDSHAKES = 100

/** The security server with the heartbeat on the fake clock, a token, and the sessions it closes. */
async function heartbeatServer (t: Test): Promise<{ server: Awaited<ReturnType<typeof securityServer>>, token: string, closed: SessionClosedMessage[] }> {
  const server = await securityServer(t, { session: { heartbeatMs: HEARTBEAT_MS, idleTimeoutMs: 0 } })
  const token = sign(ec, claims(server.clock.now()))
  const app = appIdentity(server.app)
  const closed: SessionClosedMessage[] = []
  const onClosed = (m: SessionClosedMessage): void => { if (m.app === app) closed.push(m) }
  channel(ChannelName.sessionClosed).subscribe(onClosed)
  t.teardown(() => { channel(ChannelName.sessionClosed).unsubscribe(onClosed) })
  return { server, token, closed }
}

t.test('clients that never read are cut by the heartbeat (4408); other handshakes keep their p99', async (t) => {
  const { server, token, closed } = await heartbeatServer(t)

  let paused: SocketClient[] = []
  const stuck = (): number[] => [...server.app.websocketServer.clients].map((ws) => ws.bufferedAmount).filter((b) => b > 0)
  const outcomes: Array<{ code: number, reason: string }> = []
  const measure = async (): Promise<number[]> => await handshakeTimes(server.url(server.feed), token, HANDSHAKES)
  const comparisons = await settle(async () => await compareUnderLoad(RUNS, measure, {
    async start () {
      paused = await Promise.all(Array.from({ length: PAUSED_CLIENTS }, async () => {
        const c = await server.open(t, token)
        c.ws.pause()
        c.send(`stream ${FRAMES} ${FRAME_BYTES}`)
        return c
      }))
      const held = (): number => stuck().filter((b) => b >= STUCK_BYTES).length
      await until(() => held() === PAUSED_CLIENTS, 'the server holds data the paused clients do not read')
    },
    async stop () {
      // The measured clients are gone; only the paused ones are left for the heartbeat.
      await until(() => server.app.wsSessions.size === PAUSED_CLIENTS, 'the measured sessions ended')
      const before = closed.length
      // Two heartbeats without a pong, and the third finds them missing.
      for (let i = 0; i < 3; i++) server.clock.advance(HEARTBEAT_MS)
      await until(() => closed.length - before >= PAUSED_CLIENTS, 'the paused clients were cut off')
      outcomes.push(...closed.slice(before).map((m) => ({ code: m.closeCode, reason: m.reason })))
      await until(() => stuck().length === 0, 'nothing is left waiting in the server')
      for (const c of paused) c.ws.resume()
      await Promise.all(paused.map(async (c) => await c.closed))
    }
  }), ATTEMPTS)
  for (const c of comparisons) t.comment(describe(c))
  const cut = { code: 4408, reason: 'heartbeat timeout' }
  const expected = Array.from({ length: comparisons.length * RUNS * PAUSED_CLIENTS }, () => cut)
  t.same(outcomes, expected, 'each paused client ended 4408 heartbeat timeout')
  t.equal(server.app.wsSessions.size, 0, 'no session left')
  t.ok(withinRatio(comparisons.at(-1) as Comparison), `loaded p99 within ${RATIO}x of the unloaded p99 (medians of runs)`)
})

t.test('clients that never read but write pongs of their own (RFC 6455 allows them) are cut the same (Z21)', async (t) => {
  const { server, token, closed } = await heartbeatServer(t)

  const paused = await Promise.all(Array.from({ length: PAUSED_CLIENTS }, async () => {
    const c = await server.open(t, token)
    c.ws.pause()
    c.send(`stream ${FRAMES} ${FRAME_BYTES}`)
    return c
  }))
  const stuck = (): number => [...server.app.websocketServer.clients].filter((ws) => ws.bufferedAmount >= STUCK_BYTES).length
  await until(() => stuck() === PAUSED_CLIENTS, 'the server holds data the paused clients do not read')
  let pongs = 0
  for (const ws of server.app.websocketServer.clients) ws.on('pong', () => { pongs++ })
  // Before each heartbeat, each client writes a pong (empty, and six random bytes) without reading a ping.
  for (let beat = 0; beat < 3; beat++) {
    for (const c of paused) { c.ws.pong(); c.ws.pong(Buffer.from(crypto.getRandomValues(new Uint8Array(6)))) }
    await until(() => pongs === (beat + 1) * 2 * PAUSED_CLIENTS, 'the server read every pong')
    server.clock.advance(HEARTBEAT_MS)
  }
  await until(() => closed.length >= PAUSED_CLIENTS, 'the paused clients were cut off')
  t.same(closed.map((m) => ({ code: m.closeCode, reason: m.reason })), Array.from({ length: PAUSED_CLIENTS }, () => ({ code: 4408, reason: 'heartbeat timeout' })))
  for (const c of paused) c.ws.resume()
  await Promise.all(paused.map(async (c) => await c.closed))
  t.equal(server.app.wsSessions.size, 0, 'no session left')
})
