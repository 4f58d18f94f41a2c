// What the socket benchmarks share: the forked load client and the measuring around a batch.
import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import type {} from '@fastify/websocket'
import type { WebSocket } from 'ws'
import type { Batch, BatchResult } from './client.js'

export interface Measured { cpuUs: number, rate: number, wrong: number }

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
  return { cpuUs: (cpu.user + cpu.system) / n, rate: n / (result.elapsedMs / 1000), wrong: result.wrong }
}

export const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] as number }

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

/** Sockets still open on the websocket servers it tracks, and a bounded wait for none. */
export interface SocketTracker {
  /** counts the sockets of this app's websocket server from now on */
  track: (app: FastifyInstance) => void
  /** resolves once no tracked socket is open, or after `timeoutMs` (then it says how many were left) */
  settle: () => Promise<void>
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
    track (app) {
      app.websocketServer.on('connection', (ws: WebSocket) => {
        open++
        ws.once('close', () => { if (--open === 0 && idle !== undefined) idle() })
      })
    },
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
