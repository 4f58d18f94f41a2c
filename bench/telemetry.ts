// Handshakes with @wsguard/telemetry on vs off (pnpm bench). Two servers identical but for
// telemetry: auth-handshake (ES256) + session-expiry and a pino logger at info writing to
// /dev/null. LOGGER picks the logging both servers do:
// - 'app' (the default): what `Fastify({ logger: true })` does, pino's default destination
//   (sonic-boom, sync: false, minLength 0) and Fastify's request logging on, so each
//   handshake writes its 'incoming request' line in both servers;
// - 'quiet': the route's request logging off (logLevel 'warn') and the destination buffered
//   (minLength 4096, pino's advice for throughput): the "off" server writes no line per
//   handshake, so telemetry's share is not diluted at all.
// LOG_SYNC=1, LOG_MIN and REQUEST_LOGS=0/1 override the parts. "On" is metrics, audit events,
// both storm gates (action 'log', limits far above the load) and failure-spike detection.
// Accepted handshakes open a session, so each one also yields session.opened and
// session.closed.
// Diagnostics channels are process-wide, so each server runs in a process of its own (this
// file, forked with 'serve-on' / 'serve-off') and reports its own CPU time; the load comes
// from bench/client.ts in a third process. The client is pinned to one core and the servers
// to the other; a batch is read once its sockets have closed; on/off is read round by round
// (paired) over PAIRS fresh pairs of server processes (bench/README.md says why).
import './built.js'
import { fork } from 'node:child_process'
import { PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import pino from 'pino'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { generateKey, jwks, claimsFor, mintToken } from '@wsguard/testing'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry, type TelemetryOptions } from '@wsguard/telemetry'
import type { TokenSpec } from './client.js'
import { measure, median, pin, socketTracker, startClient, type Measured } from './lib.js'

const PAIRS = Number(process.env.PAIRS ?? 4)
const ROUNDS = Number(process.env.ROUNDS ?? 6)
const COUNT = Number(process.env.COUNT ?? 1000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)
const LOGGER = process.env.LOGGER ?? 'app'
if (LOGGER !== 'app' && LOGGER !== 'quiet') throw new Error(`LOGGER must be 'app' or 'quiet', not '${LOGGER}'`)
// The destination's minLength (bytes buffered before a write); 0 writes as soon as it can.
const LOG_MIN = Number(process.env.LOG_MIN ?? (LOGGER === 'quiet' ? 4096 : 0))
const REQUEST_LOGS = (process.env.REQUEST_LOGS ?? (LOGGER === 'quiet' ? '0' : '1')) === '1'
const ISS = 'https://idp.bench'
const AUD = 'feed-api'
const es = generateKey('ES256')
// TELEMETRY (JSON) replaces the "on" options, to attribute the cost to its parts.
const TELEMETRY_OPTIONS: TelemetryOptions = process.env.TELEMETRY !== undefined
  ? JSON.parse(process.env.TELEMETRY) as TelemetryOptions
  : {
      anomalies: {
        reconnectStorm: { perIp: { max: 1_000_000, windowMs: 60_000 }, perPrincipal: { max: 1_000_000, windowMs: 60_000 } },
        failureSpike: { ratio: 5, minPerMinute: 1_000_000 }
      }
    }

let auditLines = 0

interface Server { url: string, settle: () => Promise<void> }

async function server (withTelemetry: boolean): Promise<Server> {
  // AUDIT_COUNT=1 counts audit lines through a JS stream instead (dearer per line; to check the count).
  const boom = process.env.AUDIT_COUNT === '1' || process.env.LOG_SINK === 'noop'
    ? undefined
    : pino.destination({ dest: '/dev/null', sync: process.env.LOG_SYNC === '1', minLength: LOG_MIN, maxWrite: Math.max(16_384, 2 * LOG_MIN) })
  // LOG_SINK=noop: lines are built but go nowhere (separates building a line from writing it).
  const stream = process.env.LOG_SINK === 'noop' ? { write (_line: string) {} } : boom ?? new Writable({ write (chunk: Buffer, _enc, cb) { if (chunk.includes('wsguard.audit')) auditLines++; cb() } })
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(websocket)
  if (withTelemetry) await app.register(telemetry, TELEMETRY_OPTIONS)
  // A server process trusts the key of the process that forked it.
  const keySet = process.env.BENCH_JWKS !== undefined ? JSON.parse(process.env.BENCH_JWKS) as ReturnType<typeof jwks> : jwks(es)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: keySet } })
  await app.register(sessionExpiry, {})
  // With request logging on (Fastify's default), each handshake logs 'incoming request'.
  app.get('/feed', { websocket: true, ...(REQUEST_LOGS ? {} : { logLevel: 'warn' }) }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  // A measurement waits for the closes its batch caused: their session.closed work and audit
  // lines belong to that batch, not to whatever runs next. Then the log is flushed.
  const sockets = socketTracker()
  sockets.track(app)
  const settle = async (): Promise<void> => {
    await sockets.settle()
    if (boom !== undefined && process.env.LOG_SYNC !== '1') await new Promise<void>((resolve) => boom.flush(() => resolve()))
  }
  return { url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`, settle }
}

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), ...extra })
const fresh: TokenSpec = { kind: 'fresh', key: { alg: es.alg, kid: es.kid, privateJwk: es.privateJwk }, claims: claims() }

async function main (): Promise<void> {
  const expired: TokenSpec = { kind: 'fixed', token: mintToken(es, claims({ exp: Math.floor(Date.now() / 1000) - 60 })) }
  const scenarios = [
    { name: 'accept, telemetry off', telemetry: false, tokens: fresh, expect: 'open' as const },
    { name: 'accept, telemetry on', telemetry: true, tokens: fresh, expect: 'open' as const },
    { name: 'reject expired, telemetry off', telemetry: false, tokens: expired, expect: 'reject' as const },
    { name: 'reject expired, telemetry on', telemetry: true, tokens: expired, expect: 'reject' as const }
  ]
  // ONLY=accept (or reject) runs those two scenarios alone, e.g. for a profile.
  const chosen = scenarios.filter((s) => process.env.ONLY === undefined || s.name.startsWith(process.env.ONLY))
  const child = startClient()
  const samples = new Map<string, Measured[]>()
  let pinned = false
  let linesWritten = 0
  // Server processes differ by a few percent for no reason of their own (an A/A pair came out
  // 5-9% apart in one run, the other way round in the next), so the rounds are spread over
  // PAIRS fresh pairs of server processes, forked in alternating order.
  for (let pair = 0; pair < PAIRS; pair++) {
    const first = await serve(pair % 2 === 0 ? 'serve-on' : 'serve-off')
    const second = await serve(pair % 2 === 0 ? 'serve-off' : 'serve-on')
    const servers = pair % 2 === 0 ? { on: first, off: second } : { on: second, off: first }
    // The client on one core, both servers on the other (only one is under load at a time).
    pinned = pin(child.pid, 0) && pin(servers.on.pid, 1) && pin(servers.off.pid, 1)
    const run = async (s: typeof scenarios[number]): Promise<Measured> => {
      const srv = s.telemetry ? servers.on : servers.off
      const before = await srv.cpu()
      const m = await measure(child, { url: srv.url, count: COUNT, concurrency: CONCURRENCY, carrier: 'header', tokens: s.tokens, expect: s.expect, timeoutMs: 60_000 })
      const after = await srv.cpu()
      return { ...m, cpuUs: (after.user + after.system - before.user - before.system) / COUNT }
    }
    for (const s of chosen) await run(s) // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order each round, so neither side always runs first.
      for (let k = 0; k < chosen.length; k++) {
        const s = chosen[(r + k) % chosen.length] as typeof scenarios[number]
        samples.set(s.name, [...(samples.get(s.name) ?? []), await run(s)])
      }
    }
    linesWritten += await servers.on.auditLines()
    await Promise.all([servers.on.kill(), servers.off.kill()])
  }
  child.disconnect()
  console.log(`\n${PAIRS} server pairs x ${ROUNDS} rounds x ${COUNT} handshakes, ${CONCURRENCY} at a time, logging: ${LOGGER} (request logs ${REQUEST_LOGS ? 'on' : 'off'}, ${process.env.LOG_SYNC === '1' ? 'sync' : 'async'} destination, minLength ${LOG_MIN}), ${pinned ? 'client and servers pinned to separate cores' : 'not pinned'}${process.env.AUDIT_COUNT === '1' ? `; audit lines written by the "on" server: ${linesWritten}` : ''}\n`)
  console.log('| scenario | server CPU µs/handshake (median) | handshakes/s (median) | wrong outcomes |')
  console.log('|---|---:|---:|---:|')
  const cpu = (name: string): number => median((samples.get(name) ?? []).map((m) => m.cpuUs))
  const rate = (name: string): number => median((samples.get(name) ?? []).map((m) => m.rate))
  for (const s of chosen) {
    console.log(`| ${s.name} | ${cpu(s.name).toFixed(0)} | ${rate(s.name).toFixed(0)} | ${(samples.get(s.name) ?? []).reduce((a, m) => a + m.wrong, 0)} |`)
  }
  // Each round ran every scenario once, so on/off is also read round by round (paired), with its spread.
  const paired = (on: string, off: string, key: 'cpuUs' | 'rate'): string => {
    const a = samples.get(on) ?? []
    const b = samples.get(off) ?? []
    const ratios = a.map((m, i) => m[key] / (b[i] as Measured)[key]).sort((x, y) => x - y)
    return `${(key === 'cpuUs' ? cpu(on) / cpu(off) : rate(on) / rate(off)).toFixed(3)}x (paired median ${median(ratios).toFixed(3)}x, range ${(ratios[0] as number).toFixed(2)}-${(ratios[ratios.length - 1] as number).toFixed(2)})`
  }
  for (const [label, on, off] of ([['accept', 1, 0], ['reject', 3, 2]] as const).filter(([l]) => process.env.ONLY === undefined || l === process.env.ONLY)) {
    const [onName, offName] = [(scenarios[on] as typeof scenarios[number]).name, (scenarios[off] as typeof scenarios[number]).name]
    console.log(`${label}: on/off CPU ${paired(onName, offName, 'cpuUs')}, handshakes/s ${paired(onName, offName, 'rate')}`)
  }
  process.exit(0)
}

interface Served { url: string, pid: number | undefined, cpu: () => Promise<NodeJS.CpuUsage>, auditLines: () => Promise<number>, kill: () => Promise<void> }

/** Forks this file as a server process; it answers 'cpu' and 'lines' over IPC. */
function serve (mode: 'serve-on' | 'serve-off'): Promise<Served> {
  const prof = process.env.PROFILE_DIR !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : []
  const proc = fork(fileURLToPath(import.meta.url), [mode], { execArgv: ['--import', 'tsx', ...prof, ...(process.env.SERVER_FLAGS?.split(' ').filter(Boolean) ?? [])], env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks(es)) } })
  const ask = <T>(type: string): Promise<T> => new Promise((resolve) => {
    const on = (m: { type: string, value: T }): void => { if (m.type === type) { proc.off('message', on); resolve(m.value) } }
    proc.on('message', on)
    proc.send({ type })
  })
  return new Promise((resolve) => {
    proc.once('message', (m: { url: string }) => resolve({ url: m.url, pid: proc.pid, cpu: () => ask('cpu'), auditLines: () => ask('lines'), kill: () => new Promise<void>((resolve) => { proc.once('exit', () => resolve()); proc.kill('SIGINT') }) }))
  })
}

async function serverProcess (withTelemetry: boolean): Promise<void> {
  const { url, settle } = await server(withTelemetry)
  // GC_STATS=1: what the collector did in this server (kind: count, ms), printed at exit.
  if (process.env.GC_STATS === '1') {
    const stats: Record<string, [number, number]> = {}
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = String((e as unknown as { detail?: { kind?: number } }).detail?.kind)
        const s = stats[kind] ??= [0, 0]
        s[0]++
        s[1] += e.duration
      }
    }).observe({ entryTypes: ['gc'] })
    process.on('exit', () => console.log(withTelemetry ? 'on ' : 'off', 'gc kind: [count, ms]', JSON.stringify(stats)))
  }
  process.on('message', (m: { type: string }) => {
    if (m.type === 'cpu') settle().then(() => process.send?.({ type: m.type, value: process.cpuUsage() }))
    else process.send?.({ type: m.type, value: auditLines })
  })
  process.on('SIGINT', () => process.exit(0)) // exits cleanly, so --cpu-prof writes its profile
  process.send?.({ url })
}

const mode = process.argv[2]
if (mode === 'serve-on' || mode === 'serve-off') await serverProcess(mode === 'serve-on')
else await main()
