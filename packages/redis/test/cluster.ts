import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { until } from '@wsguard/testing'

const run = promisify(execFile)

/** Whether a loopback port is free now. */
export async function free (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = createServer().once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** A port that is free, and whose cluster bus port (+10000) is free too. */
async function clusterPort (taken: readonly number[]): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 17_000 + Math.floor(Math.random() * 10_000)
    if (!taken.includes(port) && await free(port) && await free(port + 10_000)) return port
  }
  throw new Error('no free port pair for a cluster node')
}

/**
 * Stops the nodes if the test process is told to end (tap's timeout sends SIGTERM): else
 * they would outlive it, holding their ports. Returns the function that stops listening.
 */
export function reapOnSignal (nodes: readonly ChildProcess[]): () => void {
  const reap = (): void => {
    for (const n of nodes) if (n.exitCode === null) n.kill('SIGTERM')
    process.exit(143)
  }
  process.once('SIGTERM', reap)
  return () => { process.off('SIGTERM', reap) }
}

export interface TestCluster {
  readonly ports: readonly number[]
  stop(): Promise<void>
}

/** Three masters from Debian's redis-server on loopback, joined with redis-cli --cluster create. */
export async function startCluster (): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'wsguard-cluster-'))
  const ports: number[] = []
  const nodes: ChildProcess[] = []
  const unreap = reapOnSignal(nodes)
  const stop = async (): Promise<void> => {
    unreap()
    await Promise.all(nodes.map((n) => new Promise<void>((resolve) => {
      if (n.exitCode !== null) return resolve()
      n.once('exit', () => resolve())
      n.kill('SIGTERM')
    })))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < 3; i++) {
      const port = await clusterPort(ports)
      ports.push(port)
      nodes.push(spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, `${port}.log`)
      ], { stdio: 'ignore' }))
    }
    for (const port of ports) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      await until(async () => await probe.connect().then(() => true, () => false), `node ${port} answers`, { timeoutMs: 10_000 })
      probe.disconnect()
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'])
    for (const port of ports) {
      const node = new Redis({ port, host: '127.0.0.1' })
      await until(async () => (await node.cluster('INFO')).includes('cluster_state:ok'), `node ${port} sees the cluster ok`, { timeoutMs: 20_000 })
      node.disconnect()
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { ports, stop }
}
