// Handshakes with @wsguard/telemetry on vs off (pnpm bench). Two servers identical but for
// telemetry: auth-handshake (ES256) + session-expiry, a pino logger at info writing to
// /dev/null through pino.destination (sonic-boom, what Fastify's logger writes through),
// buffered (sync: false, minLength 4096: pino's advice for throughput; LOG_SYNC=1 for one
// synchronous write per line), the route's own request logging off (logLevel 'warn'), so telemetry's share is
// not diluted. Diagnostics channels are process-wide, so each server runs in a process of its own
// (this file, forked with 'serve-on' / 'serve-off') and reports its own CPU time; the load
// comes from bench/client.ts in a third process. "On" is metrics, audit events,
// both storm gates (action 'log', limits far above the load) and failure-spike detection.
// Accepted handshakes open a session, so each one also yields session.opened and session.closed.
import { fork } from 'node:child_process'
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
import { measure, median, startClient, type Measured } from './lib.js'

const ROUNDS = Number(process.env.ROUNDS ?? 9)
const COUNT = Number(process.env.COUNT ?? 1500)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)
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

async function server (withTelemetry: boolean): Promise<{ url: string, close: () => Promise<void> }> {
  // AUDIT_COUNT=1 counts audit lines through a JS stream instead (dearer per line; to check the count).
  const stream = process.env.AUDIT_COUNT === '1'
    ? new Writable({ write (chunk: Buffer, _enc, cb) { if (chunk.includes('wsguard.audit')) auditLines++; cb() } })
    : process.env.LOG_SYNC === '1'
      ? pino.destination({ dest: '/dev/null', sync: true })
      : pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 })
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(websocket)
  if (withTelemetry) await app.register(telemetry, TELEMETRY_OPTIONS)
  // A server process trusts the key of the process that forked it.
  const keySet = process.env.BENCH_JWKS !== undefined ? JSON.parse(process.env.BENCH_JWKS) as ReturnType<typeof jwks> : jwks(es)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: keySet } })
  await app.register(sessionExpiry, {})
  // REQUEST_LOGS=1 keeps Fastify's default request logging ('incoming request' per handshake).
  app.get('/feed', { websocket: true, ...(process.env.REQUEST_LOGS === '1' ? {} : { logLevel: 'warn' }) }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`, close: () => app.close() }
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
  const child = startClient()
  const servers = { on: await serve('serve-on'), off: await serve('serve-off') }
  const run = async (s: typeof scenarios[number]): Promise<Measured> => {
    const srv = s.telemetry ? servers.on : servers.off
    const before = await srv.cpu()
    const m = await measure(child, { url: srv.url, count: COUNT, concurrency: CONCURRENCY, carrier: 'header', tokens: s.tokens, expect: s.expect, timeoutMs: 60_000 })
    const after = await srv.cpu()
    const n = COUNT
    return { ...m, cpuUs: (after.user + after.system - before.user - before.system) / n }
  }
  for (const s of scenarios) await run(s) // warm-up
  const samples = new Map<string, Measured[]>()
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round, so neither side always runs first.
    for (let k = 0; k < scenarios.length; k++) {
      const s = scenarios[(r + k) % scenarios.length] as typeof scenarios[number]
      samples.set(s.name, [...(samples.get(s.name) ?? []), await run(s)])
    }
  }
  child.disconnect()
  const auditLines = await servers.on.auditLines()
  servers.on.kill('SIGINT')
  servers.off.kill('SIGINT')
  console.log(`\n${ROUNDS} rounds x ${COUNT} handshakes, ${CONCURRENCY} at a time${process.env.AUDIT_COUNT === '1' ? `; audit lines written by the "on" server: ${auditLines}` : ''}\n`)
  console.log('| scenario | server CPU µs/handshake (median) | handshakes/s (median) | wrong outcomes |')
  console.log('|---|---:|---:|---:|')
  const cpu = (name: string): number => median((samples.get(name) ?? []).map((m) => m.cpuUs))
  const rate = (name: string): number => median((samples.get(name) ?? []).map((m) => m.rate))
  for (const s of scenarios) {
    console.log(`| ${s.name} | ${cpu(s.name).toFixed(0)} | ${rate(s.name).toFixed(0)} | ${(samples.get(s.name) ?? []).reduce((a, m) => a + m.wrong, 0)} |`)
  }
  console.log(`\naccept: on/off CPU ${(cpu(scenarios[1]!.name) / cpu(scenarios[0]!.name)).toFixed(3)}x, handshakes/s ${(rate(scenarios[1]!.name) / rate(scenarios[0]!.name)).toFixed(3)}x`)
  console.log(`reject: on/off CPU ${(cpu(scenarios[3]!.name) / cpu(scenarios[2]!.name)).toFixed(3)}x, handshakes/s ${(rate(scenarios[3]!.name) / rate(scenarios[2]!.name)).toFixed(3)}x`)
  process.exit(0)
}

interface Served { url: string, cpu: () => Promise<NodeJS.CpuUsage>, auditLines: () => Promise<number>, kill: (signal: NodeJS.Signals) => void }

/** Forks this file as a server process; it answers 'cpu' and 'lines' over IPC. */
function serve (mode: 'serve-on' | 'serve-off'): Promise<Served> {
  const prof = process.env.PROFILE_DIR !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : []
  const proc = fork(fileURLToPath(import.meta.url), [mode], { execArgv: ['--conditions=@wsguard/source', '--import', 'tsx', ...prof], env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks(es)) } })
  const ask = <T>(type: string): Promise<T> => new Promise((resolve) => {
    const on = (m: { type: string, value: T }): void => { if (m.type === type) { proc.off('message', on); resolve(m.value) } }
    proc.on('message', on)
    proc.send({ type })
  })
  return new Promise((resolve) => {
    proc.once('message', (m: { url: string }) => resolve({ url: m.url, cpu: () => ask('cpu'), auditLines: () => ask('lines'), kill: (signal) => proc.kill(signal) }))
  })
}

async function serverProcess (withTelemetry: boolean): Promise<void> {
  const { url } = await server(withTelemetry)
  process.on('message', (m: { type: string }) => {
    process.send?.({ type: m.type, value: m.type === 'cpu' ? process.cpuUsage() : auditLines })
  })
  process.on('SIGINT', () => process.exit(0)) // exits cleanly, so --cpu-prof writes its profile
  process.send?.({ url })
}

const mode = process.argv[2]
if (mode === 'serve-on' || mode === 'serve-off') await serverProcess(mode === 'serve-on')
else await main()
