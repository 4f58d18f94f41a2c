// What the socket benchmarks share: the forked load client and the measuring around a batch.
import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release as osRelease, totalmem, type as osType } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import type {} from '@fastify/websocket'
import type { Batch, BatchResult } from './client.js'

export interface Measured {
  cpuUs: number
  /** of `cpuUs`, the kernel's (system) time; set by `measureOn` only */
  sysUs?: number
  rate: number
  wrong: number
  /** connections made (right and wrong) */
  n: number
  /** how the connections ended, by label ('open', 'http 401'...) */
  outcomes: Record<string, number>
  /** the share of one core the load client used over the batch (near 1: the client was the limit) */
  clientBusy: number
}

/** The load generator (client.ts), in its own process so the server's CPU is the server's. */
export function startClient (): ChildProcess {
  return fork(fileURLToPath(new URL('./client.ts', import.meta.url)), { execArgv: ['--import', 'tsx'] })
}

function ask (child: ChildProcess, msg: unknown, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (m: Record<string, unknown>): void => {
      if (m.type !== type) return
      child.off('message', onMessage)
      resolve(m)
    }
    child.on('message', onMessage)
    child.send(msg as never)
  })
}

/**
 * Runs one batch; server CPU (this process) per handshake, handshakes/s, wrong outcomes.
 * `settle`, when given, is awaited before the CPU is read (e.g. until the batch's sockets closed).
 */
export async function measure (child: ChildProcess, batch: Batch, settle?: () => Promise<void>): Promise<Measured> {
  await ask(child, { type: 'prepare', batch }, 'prepared')
  const before = process.cpuUsage()
  const result = await ask(child, { type: 'go' }, 'done') as unknown as BatchResult
  if (settle !== undefined) await settle()
  const cpu = process.cpuUsage(before)
  const n = result.ok + result.wrong
  return { cpuUs: (cpu.user + cpu.system) / n, rate: n / (result.elapsedMs / 1000), wrong: result.wrong, n, outcomes: result.outcomes, clientBusy: result.clientCpuUs / (result.elapsedMs * 1000) }
}

/** As `measure`, but the CPU is the server process's (`served`), read once the batch's sockets closed. */
export async function measureOn (child: ChildProcess, served: Served, batch: Batch): Promise<Measured> {
  const before = await served.cpu()
  const m = await measure(child, batch)
  const after = await served.cpu()
  const n = Math.max(1, m.n)
  return { ...m, cpuUs: (after.user + after.system - before.user - before.system) / n, sysUs: (after.system - before.system) / n }
}

/**
 * Opens the batch's connections and keeps the accepted ones open (for memory per connection);
 * `release` drops them. Resolves with what the client saw and how many it holds.
 */
export async function hold (child: ChildProcess, batch: Batch): Promise<BatchResult & { held: number }> {
  await ask(child, { type: 'prepare', batch }, 'prepared')
  return await ask(child, { type: 'hold' }, 'done') as unknown as BatchResult & { held: number }
}

export async function release (child: ChildProcess): Promise<number> {
  return (await ask(child, { type: 'release' }, 'released')).count as number
}

export const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] as number }

/** The median of each round's ratio of `ms` to `base` (the same rounds, in the same order). */
export function pairedMedian (ms: Measured[], base: Measured[], key: 'cpuUs' | 'rate'): number {
  return median(ms.map((m, i) => m[key] / (base[i] as Measured)[key]))
}

/**
 * Pins a process (all its threads, and the threads it starts later) to one CPU with
 * taskset, so a server and the load client do not take turns on the same core. PIN=0
 * turns it off; without taskset or with a single CPU nothing is pinned. Returns whether it was.
 */
export function pin (pid: number | undefined, cpu: number): boolean {
  if (pid === undefined || process.env.PIN === '0' || availableParallelism() < 2) return false
  try {
    execFileSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Anything that emits 'connection' with a socket that emits 'close' (a `ws` server, engine.io). */
export interface ConnectionSource {
  on: (event: 'connection', listener: (socket: { once: (event: 'close', listener: () => void) => unknown }) => void) => unknown
}

/** Sockets still open on the websocket servers it tracks, and a bounded wait for none. */
export interface SocketTracker {
  /** counts the sockets of this app's websocket server (or of any connection source) from now on */
  track: (source: FastifyInstance | ConnectionSource) => void
  /** resolves once no tracked socket is open, or after `timeoutMs` (then it says how many were left) */
  settle: () => Promise<void>
  /** how many tracked sockets are open now */
  open: () => number
}

/**
 * For reading a batch's CPU only once the sockets it opened have closed: their close work
 * belongs to that batch, not to whatever runs next. The wait is bounded, so a socket that
 * never closes cannot hang the benchmark.
 */
export function socketTracker (timeoutMs = 10_000): SocketTracker {
  let open = 0
  let idle: (() => void) | undefined
  return {
    track (source) {
      const connections: ConnectionSource = 'websocketServer' in source ? source.websocketServer : source
      connections.on('connection', (socket) => {
        open++
        socket.once('close', () => { if (--open === 0 && idle !== undefined) idle() })
      })
    },
    open: () => open,
    settle: () => new Promise((resolve) => {
      if (open === 0) return resolve()
      const timer = setTimeout(() => {
        idle = undefined
        process.stderr.write(`settle: ${open} socket(s) still open after ${timeoutMs} ms; reading the batch anyway\n`)
        resolve()
      }, timeoutMs)
      idle = () => { clearTimeout(timer); idle = undefined; resolve() }
    })
  }
}

/** A server configuration running in a process of its own (forked by `forkServer`). */
export interface Served {
  url: string
  pid: number | undefined
  /** asks the server process a question it answers (see `answerParent`) */
  ask: <T>(type: string) => Promise<T>
  /** its CPU time so far, read once the sockets it has open have closed (bounded) */
  cpu: () => Promise<NodeJS.CpuUsage>
  kill: () => Promise<void>
}

/**
 * Forks `file` with `args` as a server process: one per configuration, because diagnostics
 * channels (and so telemetry) are process-wide. Its stdout goes to /dev/null (a logger's lines),
 * stderr is shown. Resolves once it listens (it sends its url, see `answerParent`).
 */
export function forkServer (file: string, args: string[], opts: { env?: Record<string, string>, execArgv?: string[] } = {}): Promise<Served> {
  const proc = fork(file, args, {
    execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])],
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', process.env.SERVER_STDOUT === '1' ? 'inherit' : 'ignore', 'inherit', 'ipc']
  })
  const ask = <T>(type: string): Promise<T> => new Promise((resolve) => {
    const on = (m: { type: string, value: T }): void => { if (m.type === type) { proc.off('message', on); resolve(m.value) } }
    proc.on('message', on)
    proc.send({ type })
  })
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`server process ${args.join(' ')} exited (${String(code)}) before listening`)))
    proc.once('message', (m: { url: string }) => resolve({
      url: m.url,
      pid: proc.pid,
      ask,
      cpu: () => ask('cpu'),
      kill: () => new Promise<void>((resolve) => { proc.removeAllListeners('exit'); proc.once('exit', () => resolve()); proc.kill('SIGINT') })
    }))
  })
}

/**
 * The server process's side of `forkServer`: answers the parent's questions (`cpu` after the
 * tracked sockets settle, and whatever `answers` adds), exits cleanly on SIGINT (so
 * --cpu-prof writes its profile), and tells the parent its url.
 */
export function answerParent (url: string, sockets: SocketTracker, answers: Record<string, () => unknown> = {}): void {
  const all: Record<string, () => unknown> = { cpu: async () => { await sockets.settle(); return process.cpuUsage() }, ...answers }
  process.on('message', (m: { type: string }) => {
    const answer = all[m.type]
    if (answer !== undefined) Promise.resolve(answer()).then((value) => process.send?.({ type: m.type, value }))
  })
  process.on('SIGINT', () => process.exit(0))
  process.send?.({ url })
}

/** Heap and RSS after two full collections (the process must run with --expose-gc). */
export function memoryAfterGc (): { heapUsed: number, rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('memoryAfterGc needs node --expose-gc')
  gc()
  gc()
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsed, rss }
}

/** The soft limit on open files of this process (and so of the processes it forks). */
export function openFilesLimit (): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim())
  } catch {
    return Number.NaN
  }
}

/** One line about the machine a run measured: CPUs, memory, OS, Node, load, open-files limit. */
export function machineLine (): string {
  const c = cpus()
  const load = loadavg().map((x) => x.toFixed(2)).join(' ')
  return `${c.length} × ${c[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${osType()} ${osRelease()}, Node ${process.version}, load average ${load}, open files ${openFilesLimit()} per process`
}

/** `name@version` of each package as installed for bench (read from bench/node_modules). */
export function packageVersions (names: string[]): string {
  return names.map((name) => {
    try {
      const file = fileURLToPath(new URL(`./node_modules/${name}/package.json`, import.meta.url))
      return `${name}@${(JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version}`
    } catch {
      return `${name}@?`
    }
  }).join(', ')
}

/**
 * The URL of a module a wsguard package does not export (`file`, without extension), found
 * beside the package's entry: dist/, or src/ with --conditions=@wsguard/source.
 */
export function internalModule (name: string, file: string): string {
  const entry = import.meta.resolve(`@wsguard/${name}`)
  return new URL(`./${file}${entry.endsWith('.ts') ? '.ts' : '.js'}`, entry).href
}
