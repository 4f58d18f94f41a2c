// The soak (pnpm bench:soak; not in CI): SESSIONS authenticated sessions on one server process
// (soak-server.ts), held by CLIENTS load processes (soak-client.ts), for SOAK_MS, with
// short-lived tokens refreshed in-band, slots that never refresh (closed 4401), churn, and a
// probe process timing handshakes before the load and under it. It stops by itself, prints a
// report and exits 1 when an aim or a check is missed. bench/README.md ("Soak") says what
// each aim means.
import './built.js'
import { fork, type ChildProcess } from 'node:child_process'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { generateKey, jwks } from '@wsguard/testing'
import { cpuMeter, type CpuShare } from './soak-cpu.js'
import { AUD, GRACE_MS, ISS, NOTICE_MS, openFilesLimit, type MetricSummary, type ServerMessage } from './soak-server.js'
import type { ClientMessage, Command, Plan, Tally } from './soak-client.js'

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
const REFRESH_JITTER_MS = env('REFRESH_JITTER_MS', 1_000)
const SAMPLE_MS = env('SAMPLE_MS', Math.min(30_000, Math.max(5_000, Math.round(SOAK_MS / 20))))
/** file descriptors the server needs beyond one per session (listener, stdio, IPC, epoll, closing sockets) */
const FD_MARGIN = 200

const AIMS = { overshootMs: 1_000, unanswered: 0, p99Ratio: 2 }

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url))
const children: ChildProcess[] = []
let ending = false

function spawnChild (file: string, args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  const child = fork(here(file), args, { execArgv: ['--import', 'tsx'], env: { ...process.env, ...extraEnv } })
  child.once('exit', (code) => {
    if (!ending) fail(`${file} ${args.join(' ')} exited with ${String(code)} during the run`)
  })
  children.push(child)
  return child
}

/** A client process, once it has loaded and listens. */
async function client (mode: 'load' | 'probe'): Promise<ChildProcess> {
  const c = spawnChild('soak-client.ts', [mode])
  await ask(c, undefined, 'ready', 60_000)
  return c
}

function fail (why: string): never {
  console.error(`soak: ${why}`)
  ending = true
  for (const c of children) c.kill()
  process.exit(1)
}

/** Sends a command and waits (bounded) for the answer of that type. */
function ask<T extends { type: string }> (child: ChildProcess, msg: Command | { type: 'stop' } | undefined, type: T['type'], timeoutMs: number): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => fail(`no '${type}' within ${timeoutMs} ms`), timeoutMs)
    const on = (m: T): void => {
      if (m.type !== type) return
      clearTimeout(timer)
      child.off('message', on)
      resolve(m)
    }
    child.on('message', on)
    if (msg !== undefined) child.send(msg)
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function quantile (xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number
}

function addUp (tallies: Tally[]): Tally {
  const total = { ...(tallies[0] as Tally), handshakeFailed: {}, closedByCode: {}, refreshFailed: {}, handshakeMs: [], overshootMs: [] } as Tally
  for (const k of Object.keys(total) as Array<keyof Tally>) if (typeof total[k] === 'number') (total[k] as number) = 0
  for (const t of tallies) {
    for (const [k, v] of Object.entries(t) as Array<[keyof Tally, unknown]>) {
      if (typeof v === 'number') (total[k] as number) += v
      else if (Array.isArray(v)) for (const x of v) (total[k] as number[]).push(x)
      else for (const [code, n] of Object.entries(v as Record<string, number>)) (total[k] as Record<string, number>)[code] = ((total[k] as Record<string, number>)[code] ?? 0) + n
    }
  }
  return total
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)
const f1 = (x: number): string => Number.isNaN(x) ? 'n/a' : x.toFixed(1)
const pc = (share: number): string => `${(share * 100).toFixed(0)}%`
type Sample = Extract<ServerMessage, { type: 'sample' }> & { cpu: CpuShare }
const mb = (bytes: number): string => (bytes / 1_048_576).toFixed(0)

async function main (): Promise<void> {
  const limit = openFilesLimit()
  if (limit < SESSIONS + FD_MARGIN) {
    fail(`${SESSIONS} sessions need ${SESSIONS + FD_MARGIN} open files in the server process; this process may open ${limit} (raise \`ulimit -n\`, or lower SESSIONS)`)
  }
  if (TOKEN_MIN_S * 1000 <= NOTICE_MS || TOKEN_MAX_S < TOKEN_MIN_S) fail(`tokens must live longer than the ${NOTICE_MS} ms notice, TOKEN_MIN_S ≤ TOKEN_MAX_S`)
  const startedAt = Date.now()
  const load0 = loadavg()
  const watchdog = setTimeout(() => fail('the run took longer than SOAK_MS + 15 min'), SOAK_MS + 15 * 60_000)
  watchdog.unref()
  const key = generateKey('ES256')

  const server = spawnChild('soak-server.ts', ['serve'], { SOAK_JWKS: JSON.stringify(jwks(key)), SAMPLE_MS: String(SAMPLE_MS) })
  const samples: Sample[] = []
  const meter = cpuMeter(() => server.pid, () => children.filter((c) => c !== server).map((c) => c.pid))
  server.on('message', (m: ServerMessage) => {
    if (m.type !== 'sample') return
    const cpu = meter()
    samples.push({ ...m, cpu })
    process.stderr.write(`soak: +${((m.at - startedAt) / 1000).toFixed(0)} s, ${m.open} open, RSS ${mb(m.rss)} MB, ` +
      `event-loop delay p99 ${m.delayP99} ms, CPU server ${pc(cpu.server)} clients ${pc(cpu.clients)} others ${pc(cpu.others)}\n`)
  })
  const listening = await ask<Extract<ServerMessage, { type: 'listening' }>>(server, undefined, 'listening', 60_000)
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
    refreshJitterMs: REFRESH_JITTER_MS
  }

  // 1. Unloaded: after a warm-up, handshakes one at a time on the idle server, at the same pace
  // as under load (so both samples span a stretch of the machine's own noise, not one quiet second).
  const probe = await client('probe')
  const unloaded = await ask<Extract<ClientMessage, { type: 'latencies' }>>(probe, { type: 'unloaded', plan, count: PROBE_UNLOADED, warmup: 50, intervalMs: PROBE_INTERVAL_MS }, 'latencies', 60_000 + 2 * PROBE_UNLOADED * PROBE_INTERVAL_MS)

  // 2. The ramp: every client opens its share.
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => client('load')))
  const rampStarted = Date.now()
  const shareOf = (i: number): number => Math.floor(SESSIONS / CLIENTS) + (i < SESSIONS % CLIENTS ? 1 : 0)
  await Promise.all(clients.map((c, i) => ask(c, { type: 'ramp', plan: { ...plan, index: i, share: shareOf(i) } }, 'ramped', 300_000)))
  const rampMs = Date.now() - rampStarted
  const soakStarted = Date.now()
  process.stderr.write(`soak: ${SESSIONS} sessions open in ${(rampMs / 1000).toFixed(1)} s; soaking for ${SOAK_MS / 1000} s\n`)

  // 3. The soak: the probe times a handshake every PROBE_INTERVAL_MS while the clients churn and refresh.
  probe.send({ type: 'probe', intervalMs: PROBE_INTERVAL_MS, maxCount: Math.ceil(SOAK_MS / PROBE_INTERVAL_MS) + 10 } satisfies Command)
  await sleep(SOAK_MS)
  const loaded = await ask<Extract<ClientMessage, { type: 'latencies' }>>(probe, { type: 'probe-stop' }, 'latencies', 30_000)

  // 4. The end: no new refreshes or handshakes, the ones in flight answered, then the server closes (1001).
  const quiesced = await Promise.all(clients.map((c) => ask<Extract<ClientMessage, { type: 'quiesced' }>>(c, { type: 'quiesce', timeoutMs: 10_000 }, 'quiesced', 20_000)))
  const soakMs = Date.now() - soakStarted
  const stopped = await ask<Extract<ServerMessage, { type: 'stopped' }>>(server, { type: 'stop' }, 'stopped', 60_000)
  const tallies = await Promise.all([...clients, probe].map((c) => ask<Extract<ClientMessage, { type: 'report' }>>(c, { type: 'report', timeoutMs: 30_000 }, 'report', 40_000)))
  ending = true
  for (const c of children) if (c.connected) c.disconnect()

  const total = addUp(tallies.map((t) => t.tally))
  const ok = report({
    startedAt,
    load0,
    limit,
    rampMs,
    soakMs,
    unloaded,
    loaded,
    total,
    samples,
    server: stopped.metrics,
    closeMs: stopped.closeMs,
    pendingAtEnd: quiesced.reduce((a, q) => a + q.pending, 0)
  })
  process.exit(ok ? 0 : 1)
}

interface Run {
  startedAt: number
  load0: number[]
  limit: number
  rampMs: number
  soakMs: number
  unloaded: Extract<ClientMessage, { type: 'latencies' }>
  loaded: Extract<ClientMessage, { type: 'latencies' }>
  total: Tally
  samples: Sample[]
  server: MetricSummary
  closeMs: number
  pendingAtEnd: number
}

function report (r: Run): boolean {
  const t = r.total
  const cpu = cpus()
  console.log(`\n## Soak: ${SESSIONS} sessions, ${(r.soakMs / 60_000).toFixed(1)} min, ${CLIENTS} client processes\n`)
  console.log(`${new Date(r.startedAt).toISOString()}; ${cpu.length} × ${cpu[0]?.model ?? '?'}, ${mb(totalmem())} MB, Node ${process.version}, ` +
    `open files ${r.limit} per process; load average ${r.load0.map((x) => x.toFixed(2)).join(' ')} at the start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end.`)
  console.log(`Tokens ES256, ${TOKEN_MIN_S}-${TOKEN_MAX_S} s, notice ${NOTICE_MS / 1000} s, grace ${GRACE_MS / 1000} s; every ${NON_REFRESH_EVERY}th slot never refreshes, the others ` +
    `answer auth.expiring within ${REFRESH_JITTER_MS} ms; ` +
    `churn ${CHURN_PER_S}/s; ramp: ${SESSIONS} handshakes in ${(r.rampMs / 1000).toFixed(1)} s (${(SESSIONS / r.rampMs * 1000).toFixed(0)}/s, ${RAMP_CONCURRENCY * CLIENTS} at a time).\n`)

  const over = t.overshootMs
  const maxOver = over.length === 0 ? Number.NaN : Math.max(...over)
  const p99Unloaded = quantile(r.unloaded.ms, 0.99)
  const p99Loaded = quantile(r.loaded.ms, 0.99)
  const ratio = p99Loaded / p99Unloaded
  const answered = t.refreshed + sum(t.refreshFailed)
  const aims = [
    { aim: 'close 4401 received past the announced deadline (expiry + grace), max', measured: `${f1(maxOver)} ms (p50 ${f1(quantile(over, 0.5))}, p99 ${f1(quantile(over, 0.99))}, min ${f1(Math.min(...over))}; ${over.length} closes)`, target: `≤ ${AIMS.overshootMs} ms, at least one`, met: over.length > 0 && maxOver <= AIMS.overshootMs },
    { aim: 'refreshes unanswered', measured: `${t.unanswered} of ${t.refreshSent} sent (${t.refreshed} refreshed, ${sum(t.refreshFailed)} refresh_failed ${JSON.stringify(t.refreshFailed)}; ${r.pendingAtEnd} still in flight at the end)`, target: '0', met: t.unanswered === AIMS.unanswered && answered === t.refreshSent && t.refreshSent > 0 },
    { aim: 'handshake p99 under load vs unloaded p99 (probe)', measured: `${f1(p99Loaded)} ms vs ${f1(p99Unloaded)} ms: ${ratio.toFixed(2)}×`, target: `≤ ${AIMS.p99Ratio}×`, met: ratio <= AIMS.p99Ratio }
  ]
  const clientClosed = t.closedByCode
  const codes = [...new Set([...Object.keys(clientClosed), ...Object.keys(r.server.closedByCode)])].sort()
  const countsAgree = t.opened === r.server.accepted && codes.every((c) => (clientClosed[c] ?? 0) === (r.server.closedByCode[c] ?? 0))
  const checks = [
    { check: 'handshakes refused or failed (load and probe)', value: sum(t.handshakeFailed) + sum(r.unloaded.failed) + sum(r.loaded.failed), detail: JSON.stringify({ ...t.handshakeFailed, ...r.loaded.failed }) },
    { check: 'refreshers closed 4401', value: t.refresherExpired, detail: '' },
    { check: 'slots that never refresh, closed other than 4401/1001', value: t.lapsedOtherwise, detail: '' },
    { check: 'close 4401 without an auth.expiring first', value: t.expiredWithoutNotice, detail: '' },
    { check: 'refresh answers to no refresh', value: t.strayAnswers, detail: '' },
    { check: 'wrong topic decisions', value: t.topicsWrong, detail: `${t.topicsAllowed} allowed, ${t.topicsDenied} denied as expected` },
    { check: 'sockets still open after shutdown', value: t.stillOpen, detail: `server closed in ${r.closeMs} ms` },
    { check: 'client and server counts differ', value: countsAgree ? 0 : 1, detail: '' }
  ]
  console.log('| aim | measured | target | met |')
  console.log('|---|---|---|---|')
  for (const a of aims) console.log(`| ${a.aim} | ${a.measured} | ${a.target} | ${a.met ? 'yes' : '**NO**'} |`)
  console.log('\n| check (must be 0) | count | |')
  console.log('|---|---:|---|')
  for (const c of checks) console.log(`| ${c.check} | ${c.value === 0 ? 0 : `**${c.value}**`} | ${c.detail} |`)

  console.log('\n| handshake latency, ms | n | p50 | p99 | max |')
  console.log('|---|---:|---:|---:|---:|')
  for (const [name, xs] of [[`probe, unloaded (one every ${PROBE_INTERVAL_MS} ms)`, r.unloaded.ms], ['probe, under load (the same)', r.loaded.ms], ['load clients, after the ramp (reopens)', t.handshakeMs]] as const) {
    console.log(`| ${name} | ${xs.length} | ${f1(quantile(xs, 0.5))} | ${f1(quantile(xs, 0.99))} | ${f1(xs.length === 0 ? Number.NaN : Math.max(...xs))} |`)
  }

  console.log(`\nSessions opened: ${t.opened} seen by the clients, ${r.server.accepted} accepted by the server (telemetry); refused by the server: ${JSON.stringify(r.server.rejected)}.`)
  console.log(`Refreshes: ${t.refreshSent} sent, ${t.notices} auth.expiring received; server (telemetry): ${JSON.stringify(r.server.refreshes)}.`)
  console.log(`Topic decisions (telemetry): ${JSON.stringify(r.server.topicDecisions)}.\n`)
  console.log('| close code | clients saw | server counted |')
  console.log('|---|---:|---:|')
  for (const c of codes) console.log(`| ${c} | ${clientClosed[c] ?? 0} | ${r.server.closedByCode[c] ?? 0} |`)

  console.log('\nCPU as a share of one core over each interval; "others" is the machine\'s busy time outside the soak\'s processes.\n')
  console.log('| since start | open sockets | server RSS MB | heap MB | event-loop delay p50 / p99 / max, ms | GC longest / total, ms | CPU: server | clients | others |')
  console.log('|---:|---:|---:|---:|---|---|---:|---:|---:|')
  for (const s of r.samples) {
    console.log(`| ${((s.at - r.startedAt) / 1000).toFixed(0)} s | ${s.open} | ${mb(s.rss)} | ${mb(s.heapUsed)} | ${s.delayP50} / ${s.delayP99} / ${s.delayMax} | ${s.gcMaxMs} / ${s.gcMs} | ` +
      `${pc(s.cpu.server)} | ${pc(s.cpu.clients)} | ${pc(s.cpu.others)} |`)
  }

  const ok = aims.every((a) => a.met) && checks.every((c) => c.value === 0)
  console.log(`\n${ok ? 'Every aim met.' : 'An aim or a check was missed.'}`)
  return ok
}

await main()
