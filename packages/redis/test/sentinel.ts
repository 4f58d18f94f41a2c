import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { until } from '@wsguard/testing'
import { freePort, redisNodes } from './nodes.js'

export const MASTER_NAME = 'mymaster'

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
  const nodes = await redisNodes('sentinel')
  try {
    const master = await freePort([])
    const replica = await freePort([master])
    const sentinel = await freePort([master, replica])
    nodes.server(master)
    nodes.server(replica, '--replicaof', '127.0.0.1', String(master))
    const conf = join(nodes.dir, 'sentinel.conf')
    await writeFile(conf, [
      `port ${sentinel}`, 'bind 127.0.0.1', `dir ${nodes.dir}`, `logfile ${join(nodes.dir, 'sentinel.log')}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 1`, `sentinel down-after-milliseconds ${MASTER_NAME} 5000`, ''
    ].join('\n'))
    nodes.spawn(conf, '--sentinel')
    const m = await nodes.answering(master, 'master')
    await until(async () => /connected_slaves:1/.test(await m.info('replication')), 'the replica is attached', { timeoutMs: 20_000 })
    m.disconnect()
    const s = await nodes.answering(sentinel, 'sentinel')
    await until(async () => {
      const addr = await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME) as string[] | null
      const replicas = await s.call('SENTINEL', 'REPLICAS', MASTER_NAME) as unknown[]
      return addr?.[1] === String(master) && replicas.length === 1
    }, 'the sentinel knows the master and its replica', { timeoutMs: 20_000 })
    s.disconnect()
    return { master, replica, sentinel, stop: nodes.stop }
  } catch (err) {
    await nodes.stop()
    throw err
  }
}
