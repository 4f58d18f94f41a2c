// A reconnect loop refused by the per-IP storm gate (pnpm --filter @wsguard/bench reconnect-loop):
// one address reconnecting as fast as the server answers, past telemetry's per-IP gate (120 a
// minute, throttling, as its README sets it), so every attempt after its first 120 is refused
// 429 before any token work. What does one refused attempt cost the server, and what does the
// loop cost other clients' handshakes? test/security/abuse-reconnect.test.ts proves the loop is
// bounded (what opens, what is refused, no token verified); this measures what it still costs.
// The server (all four plugins, the gate on, logger off) runs in a process of its own on core 1;
// the looping client (another process) and the probe (this process: one handshake at a time,
// one every PROBE_GAP_MS at most, a fresh ES256 token each, each from another loopback address
// so the gate never counts the probe) on core 0. Windows alternate, the probe alone and the probe with the loop running.
import './built.js'
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import { answerParent, forkServer, machineLine, median, pin, socketTracker } from './lib.js'
import { AUD, FEED_PATH, ISS, stackApp, type TrustedKey } from './stack-app.js'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
/** probe handshakes per window, one every PROBE_GAP_MS at most (a client among many, not a load of its own) */
const PROBES = Number(process.env.PROBES ?? 300)
const PROBE_GAP_MS = Number(process.env.PROBE_GAP_MS ?? 5)
const LOOP_ADDRESS = '127.0.0.2'
/** upper bound on the loop's attempts per window, and on any one handshake's wait */
const MAX_ATTEMPTS = 200_000
const TIMEOUT_MS = 10_000

const here = fileURLToPath(import.meta.url)

/** One handshake from `localAddress` with `token`: 'open', or the refusal's status. */
function handshake (url: string, token: string, localAddress: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, localAddress, perMessageDeflate: false })
    const timer = setTimeout(() => { ws.terminate(); resolve('timeout') }, TIMEOUT_MS)
    const end = (outcome: string): void => { clearTimeout(timer); resolve(outcome) }
    ws.on('open', () => { ws.terminate(); end('open') })
    ws.on('unexpected-response', (_req, res) => { res.resume(); ws.terminate(); end(`http ${String(res.statusCode)}`) })
    ws.on('error', () => { end('error') })
  })
}

// --- the looping client: attempts from LOOP_ADDRESS, one after the other, while told to ---

async function loopProcess (url: string, token: string): Promise<void> {
  const state = { running: false }
  let outcomes: Record<string, number> = {}
  let looping: Promise<void> | undefined
  const loop = async (): Promise<void> => {
    for (let i = 0; state.running && i < MAX_ATTEMPTS; i++) {
      const o = await handshake(url, token, LOOP_ADDRESS)
      outcomes[o] = (outcomes[o] ?? 0) + 1
    }
  }
  process.on('message', (m: string) => {
    if (m === 'start') {
      outcomes = {}
      state.running = true
      looping = loop()
    } else if (m === 'stop') {
      state.running = false
      looping?.then(() => process.send?.(outcomes), () => {}) // handshake() never rejects
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send?.('ready')
}

function reply<T> (child: ChildProcess, send: string): Promise<T> {
  return new Promise((resolve) => { child.once('message', (m) => resolve(m as T)); child.send(send) })
}

// --- the run ---

interface Window { p50: number, p99: number, serverCpuUs: number, elapsedMs: number, outcomes: Record<string, number> }

const quantile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] as number

async function main (): Promise<void> {
  const { generateKey, jwks, claimsFor, mintToken } = await import('@wsguard/testing')
  const es = generateKey('ES256')
  const key: TrustedKey = { alg: 'ES256', pem: es.publicKey.export({ type: 'spki', format: 'pem' }) as string, jwks: jwks(es) }
  const token = (): string => mintToken(es, { ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), scope: 'feed:read', tenant: 'acme' })
  const server = await forkServer(here, ['serve'], { env: { BENCH_KEY: JSON.stringify(key) } })
  const looper = fork(here, ['loop', server.url, token()], { execArgv: ['--import', 'tsx'] })
  await new Promise((resolve) => looper.once('message', resolve))
  const pinned = pin(server.pid, 1) && pin(looper.pid, 0) && pin(process.pid, 0)

  let probed = 0
  const window = async (withLoop: boolean): Promise<Window> => {
    const before = await server.cpu()
    const started = performance.now()
    if (withLoop) looper.send('start')
    const ms: number[] = []
    const outcomes: Record<string, number> = {}
    for (let i = 0; i < PROBES; i++) {
      const next = performance.now() + PROBE_GAP_MS
      const t = token()
      const from = `127.0.1.${(probed++ % 250) + 1}`
      const t0 = performance.now()
      const o = await handshake(server.url, t, from)
      ms.push(performance.now() - t0)
      if (o !== 'open') outcomes[`probe ${o}`] = (outcomes[`probe ${o}`] ?? 0) + 1
      const wait = next - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    const loop = withLoop ? await reply<Record<string, number>>(looper, 'stop') : {}
    const elapsedMs = performance.now() - started
    const after = await server.cpu()
    const serverCpuUs = after.user + after.system - before.user - before.system
    return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), serverCpuUs, elapsedMs, outcomes: { ...outcomes, ...loop } }
  }

  // The loop's first attempts open (up to the gate's limit): spent before anything is recorded.
  await window(true)
  await window(false)
  const alone: Window[] = []
  const looped: Window[] = []
  for (let r = 0; r < ROUNDS; r++) {
    alone.push(await window(false))
    looped.push(await window(true))
    process.stderr.write(`round ${r + 1}/${ROUNDS}\n`)
  }
  looper.disconnect()
  await server.kill()

  const refused = (w: Window): number => w.outcomes['http 429'] ?? 0
  const perRefusal = looped.map((w, i) => (w.serverCpuUs - (alone[i] as Window).serverCpuUs) / Math.max(1, refused(w)))
  const f1 = (x: number): string => x.toFixed(1)
  console.log(`\n${ROUNDS} rounds, ${PROBES} probe handshakes a window, one every ${PROBE_GAP_MS} ms at most; ${machineLine()}; ${pinned ? 'server on core 1, probe and loop on core 0' : 'not pinned'}\n`)
  console.log('| window | probe handshake p50, ms | p99, ms | server CPU, share of a core | loop attempts/s | outcomes (all rounds) |')
  console.log('|---|---:|---:|---:|---:|---|')
  const row = (name: string, ws: Window[]): void => {
    const all: Record<string, number> = {}
    for (const w of ws) for (const [k, v] of Object.entries(w.outcomes)) all[k] = (all[k] ?? 0) + v
    const rate = median(ws.map((w) => Object.entries(w.outcomes).filter(([k]) => !k.startsWith('probe')).reduce((a, [, v]) => a + v, 0) / (w.elapsedMs / 1000)))
    const share = median(ws.map((w) => w.serverCpuUs / (w.elapsedMs * 1000)))
    console.log(`| ${name} | ${f1(median(ws.map((w) => w.p50)))} | ${f1(median(ws.map((w) => w.p99)))} | ${(share * 100).toFixed(0)}% | ${rate.toFixed(0)} | ${JSON.stringify(all)} |`)
  }
  row('probe alone', alone)
  row('probe beside the loop', looped)
  const ratio = median(looped.map((w) => w.p99)) / median(alone.map((w) => w.p99))
  console.log(`\nProbe p99 beside the loop / alone: ${ratio.toFixed(2)}× (medians of ${ROUNDS} windows each; per round: ` +
    `${looped.map((w, i) => (w.p99 / (alone[i] as Window).p99).toFixed(2)).join(', ')}). ` +
    `Server CPU per refused attempt: ${median(perRefusal).toFixed(0)} µs (median; the looped window's CPU less the same round's probe-alone window, over its 429s).`)
  process.exit(0)
}

async function serverProcess (): Promise<void> {
  const app = await stackApp('full-gated', 'off', JSON.parse(process.env.BENCH_KEY as string) as TrustedKey)
  const sockets = socketTracker()
  sockets.track(app)
  answerParent(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}${FEED_PATH}`, sockets)
}

if (process.argv[2] === 'serve') await serverProcess()
else if (process.argv[2] === 'loop') await loopProcess(process.argv[3] as string, process.argv[4] as string)
else await main()
