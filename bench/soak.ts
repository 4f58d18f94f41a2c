// The soak (pnpm bench:soak; not in CI): SESSIONS authenticated sessions on one server process
// (soak-server.ts), held by CLIENTS load processes (soak-client.ts), for SOAK_MS, with
// short-lived tokens refreshed in-band, slots that never refresh (closed 4401), churn, and a
// probe process timing handshakes before the load and under it. It stops by itself, prints a
// report (soak-report.ts) and exits 1 when an aim or a check is missed. bench/README.md
// ("Soak") says what each aim means.
import './built.js'
import { fork, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { loadavg, setPriority } from 'node:os'
import { isIP } from 'node:net'
import { fileURLToPath } from 'node:url'
import { generateKey, jwks } from '@wsguard/testing'
import { cpuMeter } from './soak-cpu.js'
import { pin } from './lib.js'
import { addUp, progress, report, type Sample, type Settings } from './soak-report.js'
import { AUD, GRACE_MS, ISS, NOTICE_MS, openFilesLimit, type ServerMessage } from './soak-server.js'
import type { ClientMessage, Command, Plan } from './soak-client.js'
import type { IdleCommand, Lateness } from './soak-idle.js'

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback)
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number ≥ 0`)
  return v
}
const SOAK_MS = env('SOAK_MS', 600_000)
const SESSIONS = env('SESSIONS', 19_000)
const CLIENTS = Math.max(1, env('CLIENTS', 4))
const CHURN_PER_S = env('CHURN_PER_S', 10)
const NON_REFRESH_EVERY = Math.max(1, env('NON_REFRESH_EVERY', 20))
const TOKEN_MIN_S = env('TOKEN_MIN_S', 60)
const TOKEN_MAX_S = env('TOKEN_MAX_S', 90)
const RAMP_CONCURRENCY = Math.max(1, env('RAMP_CONCURRENCY', 8))
const PROBE_UNLOADED = Math.max(1, env('PROBE_UNLOADED', 300))
const PROBE_INTERVAL_MS = Math.max(10, env('PROBE_INTERVAL_MS', 200))
// The load's 19,000 connections all go from 127.0.0.1 to the server's port, which holds about
// two thirds of the ephemeral ports for that pair: the kernel's search for a free one made each
// connect() from 127.0.0.1 take milliseconds (see bench/README.md). A new client of a real
// server comes from an address of its own, so the probe dials from one.
const PROBE_FROM = process.env.PROBE_FROM ?? '127.0.0.2'
if (isIP(PROBE_FROM) === 0) throw new Error(`PROBE_FROM must be an IP address of this host (127.0.0.2 by default), not ${JSON.stringify(PROBE_FROM)}`)
const REFRESH_JITTER_MS = env('REFRESH_JITTER_MS', 1_000)
const SAMPLE_MS = env('SAMPLE_MS', Math.min(30_000, Math.max(5_000, Math.round(SOAK_MS / 20))))
/** file descriptors the server needs beyond one per session (listener, stdio, IPC, epoll, closing sockets) */
const FD_MARGIN = 200

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url))
const children: ChildProcess[] = []
let ending = false

/** SOAK_PIN=1: the server alone on core 1, every client (load and probe) on core 0 */
const PIN_SERVER = process.env.SOAK_PIN === '1'
/**
 * SOAK_CLIENT_NICE (10): the load clients' nice value. They stand in for clients on other
 * machines; at the default priority they took the CPU from the server and from the probe (the
 * probe's own connect took 2.3 ms at the median under load against 0.6 ms unloaded), which is
 * the harness measuring itself. 0 runs them at the server's priority.
 */
const CLIENT_NICE = Number(process.env.SOAK_CLIENT_NICE ?? 10)
/** SERVER_FLAGS: node flags for the server process only (e.g. `--max-semi-space-size=32`) */
const SERVER_FLAGS = (process.env.SERVER_FLAGS ?? '').split(' ').filter((f) => f !== '')

function spawnChild (file: string, args: string[], extraEnv: Record<string, string> = {}, flags: string[] = []): ChildProcess {
  const child = fork(here(file), args, { execArgv: ['--import', 'tsx', ...flags], env: { ...process.env, ...extraEnv } })
  if (PIN_SERVER && !pin(child.pid, file === 'soak-server.ts' ? 1 : 0)) fail('SOAK_PIN=1, but taskset could not pin a process')
  // The server leaves on its own once asked to stop (its 'stopped' answer, which can be large,
  // may be read after its exit: ask() waits for it, bounded); any other exit is a failure.
  child.once('exit', (code) => {
    if (!ending && !(stopAsked.has(child) && code === 0)) fail(`${file} ${args.join(' ')} exited with ${String(code)} during the run`)
  })
  children.push(child)
  return child
}

/** A client process, once it has loaded and listens. */
async function client (mode: 'load' | 'probe'): Promise<ChildProcess> {
  const c = spawnChild('soak-client.ts', [mode])
  if (mode === 'load' && CLIENT_NICE !== 0) setPriority(c.pid as number, CLIENT_NICE)
  await ask(c, undefined, 'ready', 60_000)
  return c
}

/** Children sent 'stop': they may exit (0) on their own. */
const stopAsked = new Set<ChildProcess>()

function fail (why: string): never {
  console.error(`soak: ${why}`)
  ending = true
  for (const c of children) c.kill()
  process.exit(1)
}

type Answer<T extends string> = Extract<ClientMessage | ServerMessage | Lateness, { type: T }>

/** Sends a command (or nothing) and waits, bounded, for the answer of that type. */
function ask<T extends string> (child: ChildProcess, msg: Command | IdleCommand | { type: 'stop' } | undefined, type: T,
  timeoutMs: number): Promise<Answer<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => fail(`no '${type}' within ${timeoutMs} ms`), timeoutMs)
    const on = (m: Answer<T>): void => {
      if (m.type !== type) return
      clearTimeout(timer)
      child.off('message', on)
      resolve(m)
    }
    child.on('message', on)
    if (msg?.type === 'stop') stopAsked.add(child)
    if (msg !== undefined) child.send(msg)
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function main (): Promise<void> {
  const limit = openFilesLimit()
  if (limit < SESSIONS + FD_MARGIN) {
    fail(`${SESSIONS} sessions need ${SESSIONS + FD_MARGIN} open files in the server process; this process ` +
      `may open ${limit} (raise \`ulimit -n\`, or lower SESSIONS)`)
  }
  if (TOKEN_MIN_S * 1000 <= NOTICE_MS || TOKEN_MAX_S < TOKEN_MIN_S) {
    fail(`tokens must live longer than the ${NOTICE_MS} ms notice, and TOKEN_MIN_S ≤ TOKEN_MAX_S`)
  }
  const startedAt = Date.now()
  const load0 = loadavg()
  const watchdog = setTimeout(() => fail('the run took longer than SOAK_MS + 15 min'), SOAK_MS + 15 * 60_000)
  watchdog.unref()
  const key = generateKey('ES256')

  const serverEnv = { SOAK_JWKS: JSON.stringify(jwks(key)), SAMPLE_MS: String(SAMPLE_MS) }
  const server = spawnChild('soak-server.ts', ['serve'], serverEnv, SERVER_FLAGS)
  const samples: Sample[] = []
  const meter = cpuMeter(() => server.pid, () => children.filter((c) => c !== server).map((c) => c.pid))
  server.on('message', (m: ServerMessage) => {
    if (m.type !== 'sample') return
    const sample = { ...m, cpu: meter() }
    samples.push(sample)
    process.stderr.write(progress(sample, startedAt))
  })
  const listening = await ask(server, undefined, 'listening', 60_000)
  const plan: Plan = {
    port: listening.port,
    index: -1,
    share: 0,
    key: { alg: key.alg, kid: key.kid, privateJwk: key.privateJwk },
    iss: ISS,
    aud: AUD,
    tokenMinS: TOKEN_MIN_S,
    tokenMaxS: TOKEN_MAX_S,
    nonRefreshEvery: NON_REFRESH_EVERY,
    churnPerS: CHURN_PER_S / CLIENTS,
    rampConcurrency: RAMP_CONCURRENCY,
    refreshJitterMs: REFRESH_JITTER_MS,
    probeFrom: PROBE_FROM
  }

  // 1. Unloaded: after a warm-up, handshakes one at a time on the idle server, at the same pace
  // as under load (so both samples span a stretch of the machine's own noise, not one quiet second).
  // The idle process notes how late its timers fire while the probe runs, unloaded and loaded.
  const probe = await client('probe')
  const idle = spawnChild('soak-idle.ts', [])
  await ask(idle, undefined, 'ready', 60_000)
  idle.send({ type: 'idle-start' } satisfies IdleCommand)
  const unloadedCmd: Command = { type: 'unloaded', plan, count: PROBE_UNLOADED, warmup: 50, intervalMs: PROBE_INTERVAL_MS }
  const unloaded = await ask(probe, unloadedCmd, 'latencies', 60_000 + 2 * PROBE_UNLOADED * PROBE_INTERVAL_MS)
  const idleUnloaded = await ask(idle, { type: 'idle-stop' }, 'lateness', 10_000)

  // 2. The ramp: every client opens its share.
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => client('load')))
  const rampStarted = Date.now()
  const shareOf = (i: number): number => Math.floor(SESSIONS / CLIENTS) + (i < SESSIONS % CLIENTS ? 1 : 0)
  await Promise.all(clients.map((c, i) => {
    return ask(c, { type: 'ramp', plan: { ...plan, index: i, share: shareOf(i) } }, 'ramped', 300_000)
  }))
  const rampMs = Date.now() - rampStarted
  const soakStarted = Date.now()
  process.stderr.write(`soak: ${SESSIONS} sessions open in ${(rampMs / 1000).toFixed(1)} s; ` +
    `soaking for ${SOAK_MS / 1000} s\n`)

  // 3. The soak: the probe times a handshake every PROBE_INTERVAL_MS while the clients churn and refresh.
  const maxCount = Math.ceil(SOAK_MS / PROBE_INTERVAL_MS) + 10
  probe.send({ type: 'probe', intervalMs: PROBE_INTERVAL_MS, maxCount } satisfies Command)
  idle.send({ type: 'idle-start' } satisfies IdleCommand)
  await sleep(SOAK_MS)
  const soakEndAt = Date.now()
  const loaded = await ask(probe, { type: 'probe-stop' }, 'latencies', 30_000)
  const idleLoaded = await ask(idle, { type: 'idle-stop' }, 'lateness', 10_000)

  // 4. The end: no new refreshes or handshakes, the ones in flight answered, then the server closes (1001).
  const quiesce: Command = { type: 'quiesce', timeoutMs: 10_000 }
  const quiesced = await Promise.all(clients.map((c) => ask(c, quiesce, 'quiesced', 20_000)))
  const soakMs = Date.now() - soakStarted
  const stopAt = Date.now()
  const stopped = await ask(server, { type: 'stop' }, 'stopped', 60_000)
  // SOAK_LATENCIES=<file>: the probe's handshakes (times and starts) and the server's GC pauses, for a closer look.
  const latenciesFile = process.env.SOAK_LATENCIES
  if (latenciesFile !== undefined && latenciesFile !== '') writeFileSync(latenciesFile, JSON.stringify({ unloaded, loaded, gcPauses: stopped.gcPauses, probes: stopped.probes }))
  const reportCmd: Command = { type: 'report', timeoutMs: 30_000 }
  const tallies = await Promise.all([...clients, probe].map((c) => ask(c, reportCmd, 'report', 40_000)))
  ending = true
  for (const c of children) if (c.connected) c.disconnect()

  const settings: Settings = {
    sessions: SESSIONS,
    clients: CLIENTS,
    tokenMinS: TOKEN_MIN_S,
    tokenMaxS: TOKEN_MAX_S,
    noticeMs: NOTICE_MS,
    graceMs: GRACE_MS,
    nonRefreshEvery: NON_REFRESH_EVERY,
    refreshJitterMs: REFRESH_JITTER_MS,
    churnPerS: CHURN_PER_S,
    rampConcurrency: RAMP_CONCURRENCY,
    probeIntervalMs: PROBE_INTERVAL_MS,
    pinned: PIN_SERVER,
    serverFlags: SERVER_FLAGS,
    clientNice: CLIENT_NICE,
    probeFrom: PROBE_FROM
  }
  const ok = report(settings, {
    startedAt,
    load0,
    limit,
    rampMs,
    soakMs,
    unloaded,
    loaded,
    idle: { unloaded: idleUnloaded, loaded: idleLoaded },
    total: addUp(tallies.map((t) => t.tally)),
    samples,
    server: stopped.metrics,
    closeMs: stopped.closeMs,
    serverLateMs: stopped.lateMs,
    serverLateAt: stopped.lateAt,
    phases: { soakStarted, soakEndAt, stopAt, stoppedAt: stopAt + stopped.closeMs },
    gcPauses: stopped.gcPauses,
    probes: stopped.probes,
    pendingAtEnd: quiesced.reduce((a, q) => a + q.pending, 0)
  })
  process.exit(ok ? 0 : 1)
}

await main()
