// The soak's report (bench/soak.ts): the aims, the checks that must read 0, the figures, and
// whether the run passed. bench/README.md ("Soak") says what each aim means.
import { cpus, loadavg, totalmem } from 'node:os'
import type { CpuShare } from './soak-cpu.js'
import type { GcPause, MetricSummary, ProbeTimes, ServerMessage } from './soak-server.js'
import type { ClientMessage, Tally } from './soak-client.js'
import type { Lateness } from './soak-idle.js'

/** The aims: the latest 4401 past its announced deadline, refreshes without an answer, p99 loaded / unloaded. */
export const AIMS = { overshootMs: 1_000, unanswered: 0, p99Ratio: 2 }

export type Sample = Extract<ServerMessage, { type: 'sample' }> & { cpu: CpuShare }
type Latencies = Extract<ClientMessage, { type: 'latencies' }>

/** What the run was asked to do. */
export interface Settings {
  sessions: number
  clients: number
  tokenMinS: number
  tokenMaxS: number
  noticeMs: number
  graceMs: number
  nonRefreshEvery: number
  refreshJitterMs: number
  churnPerS: number
  rampConcurrency: number
  probeIntervalMs: number
  /** the server alone on one core, every client on the other (SOAK_PIN=1) */
  pinned: boolean
  /** node flags of the server process (SERVER_FLAGS) */
  serverFlags: string[]
  /** the load clients' nice value (SOAK_CLIENT_NICE) */
  clientNice: number
  /** the loopback address the probe dials from */
  probeFrom: string
}

/** What it saw. */
export interface Run {
  startedAt: number
  load0: number[]
  limit: number
  rampMs: number
  soakMs: number
  unloaded: Latencies
  loaded: Latencies
  /** how late an idle process's timers fired (soak-idle.ts), while the probe ran unloaded and under load */
  idle: { unloaded: Lateness, loaded: Lateness }
  total: Tally
  samples: Sample[]
  server: MetricSummary
  closeMs: number
  /** server side: close 4401 sent, minus expiry + grace */
  serverLateMs: number[]
  /** when the server sent each of those closes (Date.now()) */
  serverLateAt: number[]
  /** the run's phases (Date.now()): the soak, then the quiesce (until stopAt), then the server's close */
  phases: { soakStarted: number, soakEndAt: number, stopAt: number, stoppedAt: number }
  /** the server's GC pauses through the run, with their times */
  gcPauses: GcPause[]
  /** the server's side of each probe handshake, by the probe's subject */
  probes: Record<string, ProbeTimes>
  pendingAtEnd: number
}

/**
 * The machine's own scheduling noise: how late an idle process's timers fired. It shares no
 * work with the server, so lateness here under load is what the probe's own side pays too.
 */
export function idleLateness (idle: Run['idle']): string {
  const row = (name: string, l: Lateness): string => `| ${name} | ${l.n} | ${f1(l.p50)} | ${f1(l.p99)} | ${f1(l.p999)} | ${f1(l.max)} |`
  return '\nHow late an idle process\'s 2 ms timers fired (soak-idle.ts: it does no work, so this is the machine\'s ' +
    'scheduling, not the server), ms:\n\n| idle process | timers | p50 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|\n' +
    `${row('while the probe ran unloaded', idle.unloaded)}\n${row('while the probe ran under load', idle.loaded)}` +
    '\n\nHow long the same idle process took to open a plain TCP connection to a listener of its own, one every 200 ms ' +
    '(start → the client\'s connect event: the probe\'s first phase, with no WebSocket and no server of ours), ms:\n\n' +
    '| idle process, plain TCP connect | n | failed | p50 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|\n' +
    `${dialRow('while the probe ran unloaded', idle.unloaded.connect)}\n${dialRow('while the probe ran under load', idle.loaded.connect)}`
}

function dialRow (name: string, c: Lateness['connect']): string {
  return `| ${name} | ${c.n} | ${c.failed} | ${f2(c.p50)} | ${f2(c.p99)} | ${f2(c.p999)} | ${f2(c.max)} |`
}

export function quantile (xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)
const f1 = (x: number): string => Number.isFinite(x) ? x.toFixed(1) : 'n/a'
const f2 = (x: number): string => Number.isFinite(x) ? x.toFixed(2) : 'n/a'
const pc = (share: number): string => `${(share * 100).toFixed(0)}%`
const mb = (bytes: number): string => (bytes / 1_048_576).toFixed(0)
const max = (xs: number[]): number => xs.length === 0 ? Number.NaN : xs.reduce((a, b) => Math.max(a, b), -Infinity)
const min = (xs: number[]): number => xs.length === 0 ? Number.NaN : xs.reduce((a, b) => Math.min(a, b), Infinity)

function merge (into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n
  return into
}

/** Adds up what the clients saw: counts summed, samples joined, counts by key merged. */
export function addUp (tallies: Tally[]): Tally {
  const total = structuredClone(tallies[0] as Tally)
  for (const t of tallies.slice(1)) {
    for (const [k, v] of Object.entries(t) as Array<[keyof Tally, unknown]>) {
      const into = total[k] as unknown
      if (typeof v === 'number') (total[k] as number) += v
      else if (Array.isArray(v)) for (const x of v as number[]) (into as number[]).push(x)
      else merge(into as Record<string, number>, v as Record<string, number>)
    }
  }
  return total
}

/** The line the run prints for each sample, as it goes. */
export function progress (s: Sample, startedAt: number): string {
  return `soak: +${((s.at - startedAt) / 1000).toFixed(0)} s, ${s.open} open, RSS ${mb(s.rss)} MB, ` +
    `event-loop delay p99 ${s.delayP99} ms, CPU server ${pc(s.cpu.server)} clients ${pc(s.cpu.clients)} ` +
    `others ${pc(s.cpu.others)}\n`
}

interface Row { what: string, measured: string, target: string, met: boolean }

/**
 * The probe's handshakes under load slower than the aim allows (2× the unloaded p99): how many
 * overlapped one of the server's GC pauses, by the pause's kind (a handshake that overlapped
 * several counts under the longest), and where their time went, phase by phase, against the
 * same phases of every probe handshake under load.
 */
export function slowProbes (r: Pick<Run, 'unloaded' | 'loaded' | 'gcPauses' | 'probes'>): string {
  const limit = AIMS.p99Ratio * quantile(r.unloaded.ms, 0.99)
  const pauses = [...r.gcPauses].sort((a, b) => a.at - b.at)
  const byKind: Record<string, number> = {}
  const phases = { all: newPhases(), slow: newPhases() }
  let slow = 0
  let none = 0
  for (let i = 0; i < r.loaded.ms.length; i++) {
    const ms = r.loaded.ms[i] as number
    const from = r.loaded.at[i] as number
    const server = r.probes[r.loaded.subjects[i] as string]
    const client = { dialed: r.loaded.dialed[i] as number, connected: r.loaded.connected[i] as number }
    if (server !== undefined) addPhases(phases.all, from, client, ms, server)
    if (ms <= limit) continue
    slow++
    if (server !== undefined) addPhases(phases.slow, from, client, ms, server)
    let longest: GcPause | undefined
    for (const g of pauses) {
      if (g.at > from + ms) break
      if (g.at + g.ms >= from && (longest === undefined || g.ms > longest.ms)) longest = g
    }
    if (longest === undefined) none++
    else byKind[longest.kind] = (byKind[longest.kind] ?? 0) + 1
  }
  const kinds = Object.entries(byKind).map(([k, n]) => `${n} ${k}`).join(', ')
  const row = (name: string, p: Phases): string => `| ${name} | ${p.dial.length} | ` +
    [p.dial, p.connect, p.accept, p.read, p.hooks, p.back].map((xs) => `${f1(quantile(xs, 0.5))} / ${f1(quantile(xs, 0.99))} / ${f1(max(xs))}`).join(' | ') + ' |'
  return `\nProbe handshakes under load slower than ${AIMS.p99Ratio}× the unloaded p99 (${f1(limit)} ms): ${slow} of ` +
    `${r.loaded.ms.length} (${f1(100 * slow / Math.max(1, r.loaded.ms.length))}%); ${slow - none} overlapped a GC pause of ` +
    `the server${kinds === '' ? '' : ` (${kinds})`}, ${none} did not. Where their time went, ms (p50 / p99 / max):\n\n` +
    '| probe handshakes under load | n | client start → connection asked (ws) | → TCP connected (the client\'s connect()) | → accepted (server) | → request read | → handler (hooks, verify, 101) | → client open |\n' +
    '|---|---:|---|---|---|---|---|---|\n' + row('all', phases.all) + '\n' + row('the slow ones', phases.slow)
}

interface Phases { dial: number[], connect: number[], accept: number[], read: number[], hooks: number[], back: number[] }
function newPhases (): Phases { return { dial: [], connect: [], accept: [], read: [], hooks: [], back: [] } }
function addPhases (p: Phases, from: number, client: { dialed: number, connected: number }, ms: number, server: ProbeTimes): void {
  p.dial.push(client.dialed - from)
  p.connect.push(client.connected - client.dialed)
  p.accept.push(server.accepted - client.connected)
  p.read.push(server.request - server.accepted)
  p.hooks.push(server.open - server.request)
  p.back.push(from + ms - server.open)
}

/** The run's phase at a time: the ramp, the soak, the quiesce or the server's close (shutdown). */
function phaseAt (r: Run, at: number): string {
  const { soakStarted, soakEndAt, stopAt, stoppedAt } = r.phases
  const s = `+${((at - soakStarted) / 1000).toFixed(1)} s`
  if (at < soakStarted) return `${s}, ramp`
  if (at <= soakEndAt) return `${s}, soak`
  if (at <= stopAt) return `${s}, quiesce`
  return at <= stoppedAt ? `${s}, shutdown` : `${s}, after shutdown`
}

/** The latest closes 4401, client and server side, each with when it happened (time since the soak began, and phase). */
export function latestCloses (r: Run, n = 5): string {
  const top = (ms: number[], at: number[]): string => ms.map((m, i) => [m, at[i] as number])
    .sort((a, b) => (b[0] as number) - (a[0] as number)).slice(0, n)
    .map(([m, a]) => `${f1(m as number)} ms at ${phaseAt(r, a as number)}`).join('; ')
  const inPhase = (at: number[], from: number, to: number): number => at.filter((a) => a > from && a <= to).length
  const { soakEndAt, stoppedAt } = r.phases
  return '\nThe latest closes 4401 and when they happened (time since the soak began):\n' +
    `- received by the clients: ${top(r.total.overshootMs, r.total.overshootAt)}\n` +
    `- sent by the server: ${top(r.serverLateMs, r.serverLateAt)}\n` +
    `- closes received after the soak's end: ${inPhase(r.total.overshootAt, soakEndAt, Infinity)} ` +
    `(of which during the server's close: ${inPhase(r.total.overshootAt, r.phases.stopAt, stoppedAt)})`
}

function aims (r: Run): Row[] {
  const t = r.total
  const over = t.overshootMs
  const p99Unloaded = quantile(r.unloaded.ms, 0.99)
  const p99Loaded = quantile(r.loaded.ms, 0.99)
  const ratio = p99Loaded / p99Unloaded
  const failed = sum(t.refreshFailed)
  return [{
    what: 'close 4401 received past the announced deadline (expiry + grace), max',
    measured: `${f1(max(over))} ms (p50 ${f1(quantile(over, 0.5))}, p99 ${f1(quantile(over, 0.99))}, ` +
      `min ${f1(min(over))}; ${over.length} closes)`,
    target: `≤ ${AIMS.overshootMs} ms, at least one`,
    met: over.length > 0 && max(over) <= AIMS.overshootMs
  }, {
    what: 'refreshes unanswered',
    measured: `${t.unanswered} of ${t.refreshSent} sent (${t.refreshed} refreshed, ${failed} refresh_failed ` +
      `${JSON.stringify(t.refreshFailed)}; ${r.pendingAtEnd} still in flight at the end)`,
    target: '0',
    met: t.unanswered === AIMS.unanswered && t.refreshed + failed === t.refreshSent && t.refreshSent > 0
  }, {
    what: 'handshake p99 under load vs unloaded p99 (probe)',
    measured: `${f1(p99Loaded)} ms vs ${f1(p99Unloaded)} ms: ${ratio.toFixed(2)}×`,
    target: `≤ ${AIMS.p99Ratio}×`,
    met: ratio <= AIMS.p99Ratio
  }]
}

function checks (r: Run, countsAgree: boolean): Array<{ what: string, value: number, detail: string }> {
  const t = r.total
  const refused = merge(merge(merge({}, t.handshakeFailed), r.unloaded.failed), r.loaded.failed)
  return [
    { what: 'handshakes refused or failed (load and probe)', value: sum(refused), detail: JSON.stringify(refused) },
    { what: 'refreshers closed 4401', value: t.refresherExpired, detail: '' },
    { what: 'slots that never refresh, closed other than 4401/1001', value: t.lapsedOtherwise, detail: '' },
    { what: 'close 4401 without an auth.expiring first', value: t.expiredWithoutNotice, detail: '' },
    { what: 'refresh answers to no refresh', value: t.strayAnswers, detail: '' },
    { what: 'wrong topic decisions', value: t.topicsWrong, detail: `${t.topicsAllowed} allowed, ${t.topicsDenied} denied` },
    { what: 'sockets still open after shutdown', value: t.stillOpen, detail: `server closed in ${r.closeMs} ms` },
    { what: 'client and server counts differ', value: countsAgree ? 0 : 1, detail: '' }
  ]
}

/** Prints the report; true when every aim is met and every check reads 0. */
export function report (s: Settings, r: Run): boolean {
  const t = r.total
  const cpu = cpus()
  const loads = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ')
  console.log(`\n## Soak: ${s.sessions} sessions, ${(r.soakMs / 60_000).toFixed(1)} min, ${s.clients} client processes\n`)
  console.log(`${new Date(r.startedAt).toISOString()}; ${cpu.length} × ${cpu[0]?.model ?? '?'}, ${mb(totalmem())} MB, ` +
    `Node ${process.version}, open files ${r.limit} per process; load average ${loads(r.load0)} at the start, ` +
    `${loads(loadavg())} at the end.`)
  console.log(`Tokens ES256, ${s.tokenMinS}-${s.tokenMaxS} s, notice ${s.noticeMs / 1000} s, grace ${s.graceMs / 1000} s; ` +
    `every ${s.nonRefreshEvery}th slot never refreshes, the others answer auth.expiring within ${s.refreshJitterMs} ms; ` +
    `churn ${s.churnPerS}/s; ramp: ${s.sessions} handshakes in ${(r.rampMs / 1000).toFixed(1)} s ` +
    `(${(s.sessions / r.rampMs * 1000).toFixed(0)}/s, ${s.rampConcurrency * s.clients} at a time).`)
  console.log(`${s.pinned ? 'Server pinned to core 1, the clients and the probe to core 0' : 'Not pinned'}; server node flags: ` +
    `${s.serverFlags.length > 0 ? s.serverFlags.join(' ') : 'none'}; load clients at nice ${s.clientNice}, ` +
    `dialling from 127.0.0.1; the probe dials from ${s.probeFrom}.\n`)

  const codes = [...new Set([...Object.keys(t.closedByCode), ...Object.keys(r.server.closedByCode)])].sort()
  const countsAgree = t.opened === r.server.accepted &&
    codes.every((c) => (t.closedByCode[c] ?? 0) === (r.server.closedByCode[c] ?? 0))
  const aimRows = aims(r)
  const checkRows = checks(r, countsAgree)
  console.log('| aim | measured | target | met |')
  console.log('|---|---|---|---|')
  for (const a of aimRows) console.log(`| ${a.what} | ${a.measured} | ${a.target} | ${a.met ? 'yes' : '**NO**'} |`)
  console.log('\n| check (must be 0) | count | |')
  console.log('|---|---:|---|')
  for (const c of checkRows) console.log(`| ${c.what} | ${c.value === 0 ? 0 : `**${c.value}**`} | ${c.detail} |`)

  console.log('\n| handshake latency, ms | n | p50 | p99 | max |')
  console.log('|---|---:|---:|---:|---:|')
  const latencies: Array<[string, number[]]> = [
    [`probe, unloaded (one every ${s.probeIntervalMs} ms)`, r.unloaded.ms],
    ['probe, under load (the same)', r.loaded.ms],
    ['load clients, after the ramp (reopens)', t.handshakeMs]
  ]
  for (const [name, xs] of latencies) {
    console.log(`| ${name} | ${xs.length} | ${f1(quantile(xs, 0.5))} | ${f1(quantile(xs, 0.99))} | ${f1(max(xs))} |`)
  }

  console.log(slowProbes(r))
  console.log(idleLateness(r.idle))

  const late = r.serverLateMs
  console.log(latestCloses(r))
  console.log('\nClose 4401 sent by the server past expiry + grace (its share of the lateness above): ' +
    `p50 ${f1(quantile(late, 0.5))} ms, p99 ${f1(quantile(late, 0.99))} ms, max ${f1(max(late))} ms, ` +
    `min ${f1(min(late))} ms (${late.length} closes).`)
  console.log(`Sessions opened: ${t.opened} seen by the clients, ${r.server.accepted} accepted by the server ` +
    `(telemetry); refused by the server: ${JSON.stringify(r.server.rejected)}.`)
  console.log(`Refreshes: ${t.refreshSent} sent, ${t.notices} auth.expiring received; ` +
    `server (telemetry): ${JSON.stringify(r.server.refreshes)}.`)
  console.log(`Topic decisions (telemetry): ${JSON.stringify(r.server.topicDecisions)}.\n`)
  console.log('| close code | clients saw | server counted |')
  console.log('|---|---:|---:|')
  for (const c of codes) console.log(`| ${c} | ${t.closedByCode[c] ?? 0} | ${r.server.closedByCode[c] ?? 0} |`)

  console.log('\nCPU as a share of one core over each interval; "others" is the machine\'s busy time outside ' +
    'the soak\'s processes.\n')
  console.log('| since start | open sockets | server RSS MB | heap MB | event-loop delay p50 / p99 / max, ms | ' +
    'GC longest / total, ms | CPU: server | clients | others |')
  console.log('|---:|---:|---:|---:|---|---|---:|---:|---:|')
  for (const x of r.samples) {
    console.log(`| ${((x.at - r.startedAt) / 1000).toFixed(0)} s | ${x.open} | ${mb(x.rss)} | ${mb(x.heapUsed)} | ` +
      `${x.delayP50} / ${x.delayP99} / ${x.delayMax} | ${x.gcMaxMs} / ${x.gcMs} | ` +
      `${pc(x.cpu.server)} | ${pc(x.cpu.clients)} | ${pc(x.cpu.others)} |`)
  }

  const ok = aimRows.every((a) => a.met) && checkRows.every((c) => c.value === 0)
  console.log(`\n${ok ? 'Every aim met.' : 'An aim or a check was missed.'}`)
  return ok
}
