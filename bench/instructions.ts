// The whole stack's handshake cost in CPU instructions (issue 15): the configurations of
// bench/stack.ts, each server run under valgrind's callgrind, which counts the instructions the
// process executes. A count does not move with what else the machine is doing: leaving out
// the compiler's and the collector's share (see newestDump), two counts of one server agree to
// about 1% and two servers of one configuration to about 2%, where CPU time (stack.ts) moves by
// ±15% between identical configurations on this machine. It is not time: a cache miss costs one count, a
// kernel call none, so it says where wsguard's own work goes and whether a change cut it, and
// stack.ts stays the measure of seconds.
// Each server runs `node --single-threaded` under callgrind (so the garbage collector's and the
// compiler's work happen on the thread that is counted, as they would on another core), warms
// up uncounted, then counts `COUNT` accepted handshakes from a real client over loopback (a
// fresh ES256 token each): callgrind_control (run by this process) zeroes the count before the
// batch and dumps it once the batch's sockets have closed. Needs valgrind (Debian's package).
import './built.js'
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TokenSpec } from './client.js'
import { answerParent, machineLine, measure, socketTracker, startClient, type Served } from './lib.js'
import { AUD, FEED_PATH, ISS, STACK_CONFIGS, stackApp, type Logging, type Stack, type StackConfig, type TrustedKey } from './stack-app.js'

const COUNT = Number(process.env.COUNT ?? 1000)
const WARMUP = Number(process.env.WARMUP ?? 3000)
const REPEAT = Number(process.env.REPEAT ?? 2)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)
// KEEP=<dir>: keep each configuration's dumps there (<dir>/<stack>-<logging>/), for callgrind_annotate.
const keep = process.env.KEEP

// The configurations whose logger writes to stdout are left out: the kernel's part of writing is not counted.
const CONFIGS = STACK_CONFIGS.filter((c) => c.logging !== 'app')
type Config = StackConfig

/** The server process's side: the stack, and answers that let the parent start and read a count. */
async function serverProcess (stack: Stack, logging: Logging): Promise<void> {
  const app = await stackApp(stack, logging, JSON.parse(process.env.BENCH_KEY as string) as TrustedKey)
  const sockets = socketTracker(60_000)
  sockets.track(app)
  answerParent(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}${FEED_PATH}`, sockets, {
    // Before a count: the last batch's sockets closed and its garbage collected, so the count
    // starts from the same state each time.
    quiet: async () => {
      await sockets.settle()
      ;(globalThis as { gc?: () => void }).gc?.()
      return true
    },
    settled: async () => {
      await sockets.settle()
      return true
    }
  })
}

/** Starts a configuration's server under callgrind; its dumps go to `dir`. */
function serve (config: Config, key: TrustedKey, dir: string): Promise<Served> {
  const proc = spawn('valgrind', [
    '-q', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'callgrind.out')}`,
    // KEEP: --perf-basic-prof too, so /tmp/perf-<pid>.map names the JIT code the dumps count.
    process.execPath, '--single-threaded', '--expose-gc', ...(keep !== undefined ? ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${join(dir, 'v8.log')}`] : []), '--import', 'tsx', fileURLToPath(import.meta.url), 'serve', config.stack, config.logging
  ], { env: { ...process.env, BENCH_KEY: JSON.stringify(key) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const ask = <T>(type: string): Promise<T> => new Promise((resolve) => {
    const on = (m: { type: string, value: T }): void => { if (m.type === type) { proc.off('message', on); resolve(m.value) } }
    proc.on('message', on)
    proc.send({ type })
  })
  return new Promise((resolve, reject) => {
    proc.once('error', reject)
    proc.once('exit', (code) => reject(new Error(`server ${config.stack} under valgrind exited (${String(code)}) before listening`)))
    proc.once('message', (m: { url: string }) => resolve({
      url: m.url,
      pid: proc.pid as number,
      ask,
      cpu: () => ask('cpu'),
      kill: () => new Promise<void>((resolve) => { proc.removeAllListeners('exit'); proc.once('exit', () => resolve()); proc.kill('SIGINT') })
    }))
  })
}

interface Count { all: number, compiler: number, gc: number }

/**
 * The instructions in the one dump in `dir` not yet `seen` (its `totals:` line), how many of
 * them V8's optimizing compiler ran (functions of its `compiler` and `maglev` namespaces, read
 * with callgrind_annotate), and how many its garbage collector ran. Under valgrind the compiler
 * keeps recompiling long after the warm-up (a run without valgrind compiles 22 functions in
 * 9,000 handshakes after the same warm-up), so its share is shown apart and the comparison is
 * made without it. The collector's is shown apart too: a count of 1,000 handshakes holds a
 * full (mark-compact) collection or not, which moves a count by about 0.13 M a handshake.
 */
const COMPILER = /v8::internal::(?:compiler|maglev)::/
const GC = /Scaveng|Heap::|heap::|MarkCompact|Marking|Sweep|Evacuat|RememberedSet|SlotSet|MemoryChunk|GCTracer|EphemeronHashTable|PagedSpace|NewSpace/

function newestDump (dir: string, seen: Set<string>): Count {
  const fresh = readdirSync(dir).filter((f) => f.startsWith('callgrind.out') && !seen.has(f))
  if (fresh.length !== 1) throw new Error(`expected one new callgrind dump in ${dir}, found ${fresh.length}`)
  const file = join(dir, fresh[0] as string)
  seen.add(fresh[0] as string)
  const totals = /^(?:totals|summary): (\d+)/m.exec(readFileSync(file, 'utf8'))
  if (totals === null) throw new Error(`no totals line in ${file}`)
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  let compiler = 0
  let gc = 0
  for (const line of annotated.split('\n')) {
    const m = /^\s*([\d,]+) \(.*?\) +(.*)$/.exec(line)
    if (m === null) continue
    const n = Number((m[1] as string).replaceAll(',', ''))
    if (COMPILER.test(m[2] as string)) compiler += n
    else if (GC.test(m[2] as string)) gc += n
  }
  return { all: Number(totals[1]), compiler, gc }
}

function control (command: string, pid: number): void {
  execFileSync('callgrind_control', [command, String(pid)], { stdio: 'ignore' })
}

async function main (): Promise<void> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
  } catch {
    throw new Error('bench/instructions.ts needs valgrind (apt-get install -y valgrind)')
  }
  const { generateKey, jwks, claimsFor } = await import('@wsguard/testing')
  const es = generateKey('ES256')
  const key: TrustedKey = { alg: 'ES256', pem: es.publicKey.export({ type: 'spki', format: 'pem' }) as string, jwks: jwks(es) }
  const tokens: TokenSpec = { kind: 'fresh', key: { alg: es.alg, kid: es.kid, privateJwk: es.privateJwk }, claims: { ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), scope: 'feed:read', tenant: 'acme' } }
  // ONLY=<comma-separated stacks> narrows the run; the bare hook always runs.
  const only = process.env.ONLY?.split(',')
  const chosen = CONFIGS.filter((c) => only === undefined || c.stack === 'bare' || only.includes(c.stack))
  const child = startClient()
  const counts = new Map<Config, Count[]>()
  // One server at a time, each the only thing counted: the client is not under valgrind.
  for (const c of chosen) {
    const dir = keep === undefined ? mkdtempSync(join(tmpdir(), 'wsguard-icount-')) : join(keep, `${c.stack}-${c.logging}`)
    if (keep !== undefined) mkdirSync(dir, { recursive: true })
    let srv: Served | undefined
    try {
      const served = srv = await serve(c, key, dir)
      const batch = (count: number): ReturnType<typeof measure> => measure(child, { url: served.url, count, concurrency: CONCURRENCY, carrier: 'header', tokens, expect: 'open', timeoutMs: 600_000 })
      const warm = await batch(WARMUP)
      if (warm.wrong > 0) throw new Error(`${c.name}: ${warm.wrong} of the warm-up's handshakes were not accepted`)
      const seen = new Set<string>(readdirSync(dir))
      const per: Count[] = []
      for (let r = 0; r < REPEAT; r++) {
        // callgrind_control runs here, not in the server, so its own spawning is not counted.
        await srv.ask('quiet')
        control(r === 0 ? '--instr=on' : '--zero', srv.pid as number)
        const m = await batch(COUNT)
        await srv.ask('settled')
        control('--dump', srv.pid as number)
        if (m.wrong > 0) throw new Error(`${c.name}: ${m.wrong} of ${m.n} handshakes were not accepted`)
        const count = newestDump(dir, seen)
        per.push({ all: count.all / m.n, compiler: count.compiler / m.n, gc: count.gc / m.n })
      }
      counts.set(c, per)
      process.stderr.write(`${c.name}: ${per.map((x) => `${(x.all / 1e6).toFixed(3)} (compiler ${(x.compiler / 1e6).toFixed(3)}, gc ${(x.gc / 1e6).toFixed(3)})`).join(' ')} M instructions per handshake\n`)
    } finally {
      await srv?.kill()
      if (keep === undefined) rmSync(dir, { recursive: true, force: true })
    }
  }
  child.disconnect()
  const mean = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length
  const rest = (per: Count[]): number => mean(per.map((x) => x.all - x.compiler - x.gc))
  const withGc = (per: Count[]): number => mean(per.map((x) => x.all - x.compiler))
  const bare = (logging: Logging): Count[] => counts.get(chosen.find((c) => c.stack === 'bare' && c.logging === logging) as Config) ?? []
  const m = (x: number): string => `${(x / 1e6).toFixed(3)}`
  console.log(`\n${machineLine()}`)
  console.log(`callgrind, node --single-threaded; ${WARMUP} handshakes uncounted, then ${REPEAT} counts of ${COUNT} accepted handshakes each (${CONCURRENCY} at a time, fresh ES256 token each, client over loopback); M instructions per handshake\n`)
  console.log('| server | all (each count) | V8\'s compiler | garbage collector | the rest, mean | vs bare hook | with the collector, vs bare hook |')
  console.log('|---|---:|---:|---:|---:|---:|---:|')
  for (const c of chosen) {
    const per = counts.get(c) as Count[]
    const b = bare(c.logging)
    console.log(`| ${c.name} | ${per.map((x) => m(x.all)).join(', ')} | ${per.map((x) => m(x.compiler)).join(', ')} | ${per.map((x) => m(x.gc)).join(', ')} | ${m(rest(per))} | ${(rest(per) / rest(b)).toFixed(3)}x | ${(withGc(per) / withGc(b)).toFixed(3)}x |`)
  }
  process.exit(0)
}

if (process.argv[2] === 'serve') await serverProcess(process.argv[3] as Stack, process.argv[4] as Logging)
else await main()
