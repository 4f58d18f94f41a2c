// Slowloris: upgrade requests whose headers drip in a byte at a time. Node's headersTimeout,
// which the app sets (test/README.md has the settings), cuts each one with 408 once it is due,
// and other clients' handshakes keep their pace meanwhile.
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { until } from '@wsguard/testing'
import { ALLOWED_ORIGIN } from './carriers.js'
import { compareUnderLoad, describe, handshakeTimes, RATIO, settle, withinRatio, type Comparison } from './latency.js'
import { securityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

const HEADERS_TIMEOUT_MS = 1_000
const CHECK_INTERVAL_MS = 100
const SLACK_MS = 1_000 // timers on a loaded 2-core machine
const SLOW_CLIENTS = 40
const DRIP_MS = 20
const MAX_CONNECTIONS = 1_000
const RUNS = 3
const ATTEMPTS = 2
const HANDSHAKES = 100

interface Cut { ms: number, firstLine: string }

/** Slow clients, each dripping an upgrade request's head; a client that is cut comes back while the load runs. */
function slowloris (port: number, head: string): { start: () => void, stop: () => Promise<Cut[]>, opened: () => number } {
  const live = new Map<Socket, { at: number, sent: number, received: string }>()
  const cuts: Cut[] = []
  let running = false
  let opened = 0
  let timer: NodeJS.Timeout | undefined
  const open = (): void => {
    if (!running || opened >= MAX_CONNECTIONS) return
    opened++
    const socket = connect(port, '127.0.0.1')
    const state = { at: performance.now(), sent: 0, received: '' }
    live.set(socket, state)
    socket.on('data', (d: Buffer) => { state.received += d.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => {
      if (!live.delete(socket)) return
      cuts.push({ ms: performance.now() - state.at, firstLine: state.received.split('\r\n')[0] as string })
      open()
    })
  }
  return {
    start () {
      running = true
      for (let i = 0; i < SLOW_CLIENTS; i++) open()
      timer = setInterval(() => {
        for (const [socket, state] of live) if (state.sent < head.length) socket.write(head[state.sent++] as string)
      }, DRIP_MS)
    },
    async stop () {
      running = false
      // The outcome: every slow client still there is cut by the server, none by us.
      const timeoutMs = HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + SLACK_MS * 3
      await until(() => live.size === 0, 'the server cut every slow client', { timeoutMs })
      clearInterval(timer)
      return cuts.splice(0)
    },
    opened: () => opened
  }
}

t.test('slow upgrade requests are cut with 408 by headersTimeout; other handshakes keep their p99', async (t) => {
  const server = await securityServer(t, {
    server: {
      requestTimeout: 2 * HEADERS_TIMEOUT_MS,
      http: { headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: CHECK_INTERVAL_MS }
    }
  })
  const token = sign(ec, claims(server.clock.now()))
  const head = `GET ${server.feed} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
    `Origin: ${ALLOWED_ORIGIN}\r\nAuthorization: Bearer ${token}\r\n\r\n`
  const attack = slowloris(server.port, head)
  const cuts: Cut[] = []
  const measure = async (): Promise<number[]> => await handshakeTimes(server.url(server.feed), token, HANDSHAKES)
  const comparisons = await settle(async () => await compareUnderLoad(RUNS, measure, {
    start: () => attack.start(),
    stop: async () => { cuts.push(...await attack.stop()) }
  }), ATTEMPTS)
  for (const c of comparisons) t.comment(describe(c))
  const slowest = Math.max(...cuts.map((c) => c.ms))
  const fastest = Math.min(...cuts.map((c) => c.ms))
  t.comment(`${attack.opened()} slow connections, cut after ${fastest.toFixed(0)}-${slowest.toFixed(0)} ms`)
  t.equal(cuts.length, attack.opened(), 'every slow connection was cut by the server')
  t.same(cuts.filter((c) => c.firstLine !== 'HTTP/1.1 408 Request Timeout').map((c) => c.firstLine), [], 'each with 408')
  t.ok(slowest <= HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + SLACK_MS, 'within headersTimeout and one check interval')
  t.ok(fastest >= HEADERS_TIMEOUT_MS - 50, 'and not before headersTimeout')
  const measured = comparisons.length * RUNS * HANDSHAKES * 2
  t.equal(server.opened.length, measured, 'no slow client got a socket; every measured one did')
  t.ok(withinRatio(comparisons.at(-1) as Comparison), `loaded p99 within ${RATIO}x of the unloaded p99 (medians of runs)`)
})
