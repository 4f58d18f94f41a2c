import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { until } from '@wsguard/testing'

// The redis-server processes a test file starts for itself (a Cluster, a Sentinel setup):
// Debian's redis-server on loopback ports, in a temporary directory, stopped by stop().

/** Whether a loopback port is free now. */
async function free (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = createServer().once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** A free loopback port not in `taken`; with `bus`, its cluster bus port (+10000) is free too. */
export async function freePort (taken: readonly number[], bus = false): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 17_000 + Math.floor(Math.random() * 10_000)
    if (!taken.includes(port) && await free(port) && (!bus || await free(port + 10_000))) return port
  }
  throw new Error('no free port for a test redis-server')
}

export interface RedisNodes {
  /** where their logs and configuration files go; removed by `stop()` */
  readonly dir: string
  /** a node on loopback `port` that keeps nothing on disk, with `args` added (`--replicaof …`) */
  server(port: number, ...args: string[]): void
  /** redis-server with these arguments only (a configuration file, `--sentinel`) */
  spawn(...args: string[]): void
  /** a client of the node on `port`, once it answers; disconnect it when done */
  answering(port: number, what: string): Promise<Redis>
  /** stops every node (and waits for each to exit), then removes `dir` */
  stop(): Promise<void>
}

export async function redisNodes (name: string): Promise<RedisNodes> {
  const dir = await mkdtemp(join(tmpdir(), `wsguard-${name}-`))
  const nodes: ChildProcess[] = []
  // tap's timeout ends the test process with SIGTERM: the nodes would outlive it, holding their ports.
  const reap = (): void => {
    for (const n of nodes) if (n.exitCode === null) n.kill('SIGTERM')
    process.exit(143)
  }
  process.once('SIGTERM', reap)
  const start = (args: string[]): void => { nodes.push(spawn('redis-server', args, { stdio: 'ignore' })) }
  return {
    dir,
    server: (port, ...args) => {
      start(['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
        '--daemonize', 'no', '--logfile', join(dir, `${port}.log`), ...args])
    },
    spawn: (...args) => { start(args) },
    answering: async (port, what) => {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      await until(async () => await probe.connect().then(() => true, () => false), `${what} ${port} answers`, { timeoutMs: 10_000 })
      return probe
    },
    stop: async () => {
      process.off('SIGTERM', reap)
      await Promise.all(nodes.map((n) => new Promise<void>((resolve) => {
        if (n.exitCode !== null) return resolve()
        n.once('exit', () => resolve())
        n.kill('SIGTERM')
      })))
      await rm(dir, { recursive: true, force: true })
    }
  }
}
