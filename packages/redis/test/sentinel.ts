import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { free, reapOnSignal } from './cluster.js'

export const MASTER_NAME = 'mymaster'

async function port (taken: readonly number[]): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = 17_000 + Math.floor(Math.random() * 10_000)
    if (!taken.includes(p) && await free(p)) return p
  }
  throw new Error('no free port for a sentinel test node')
}

export interface TestSentinel {
  readonly master: number
  readonly replica: number
  readonly sentinel: number
  stop(): Promise<void>
}

/**
 * A master, a replica of it and one sentinel monitoring them (quorum 1), from Debian's
 * redis-server on loopback ports (`redis-server <conf> --sentinel`: Debian's redis-server
 * package has no `redis-sentinel` binary; that is the redis-sentinel package). Nothing kept on
 * disk but the sentinel's config file, in a directory removed by `stop()`.
 */
export async function startSentinel (): Promise<TestSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'wsguard-sentinel-'))
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
  const server = (p: number, ...args: string[]): void => {
    nodes.push(spawn('redis-server', [
      '--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no',
      '--logfile', join(dir, `${p}.log`), ...args
    ], { stdio: 'ignore' }))
  }
  try {
    const master = await port([])
    const replica = await port([master])
    const sentinel = await port([master, replica])
    server(master)
    server(replica, '--replicaof', '127.0.0.1', String(master))
    const conf = join(dir, 'sentinel.conf')
    await writeFile(conf, [
      `port ${sentinel}`, 'bind 127.0.0.1', `dir ${dir}`, `logfile ${join(dir, 'sentinel.log')}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 1`, `sentinel down-after-milliseconds ${MASTER_NAME} 5000`, ''
    ].join('\n'))
    nodes.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }))
    const probe = (p: number): Redis => new Redis({ port: p, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    const m = probe(master)
    await until(async () => await m.connect().then(() => true, () => false), `master ${master} answers`, { timeoutMs: 10_000 })
    await until(async () => /connected_slaves:1/.test(await m.info('replication')), 'the replica is attached', { timeoutMs: 20_000 })
    m.disconnect()
    const s = probe(sentinel)
    await until(async () => await s.connect().then(() => true, () => false), `sentinel ${sentinel} answers`, { timeoutMs: 10_000 })
    await until(async () => {
      const addr = await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME) as string[] | null
      const replicas = await s.call('SENTINEL', 'REPLICAS', MASTER_NAME) as unknown[]
      return addr?.[1] === String(master) && replicas.length === 1
    }, 'the sentinel knows the master and its replica', { timeoutMs: 20_000 })
    s.disconnect()
    return { master, replica, sentinel, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
