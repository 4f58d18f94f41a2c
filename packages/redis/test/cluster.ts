import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { until } from '@wsguard/testing'
import { freePort, redisNodes } from './nodes.js'

const run = promisify(execFile)

export interface TestCluster {
  readonly ports: readonly number[]
  stop(): Promise<void>
}

/** Three masters from Debian's redis-server on loopback, joined with redis-cli --cluster create. */
export async function startCluster (): Promise<TestCluster> {
  const nodes = await redisNodes('cluster')
  const ports: number[] = []
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort(ports, true)
      ports.push(port)
      nodes.server(port, '--cluster-enabled', 'yes', '--cluster-config-file', join(nodes.dir, `nodes-${port}.conf`))
    }
    for (const port of ports) (await nodes.answering(port, 'node')).disconnect()
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'])
    for (const port of ports) {
      const node = new Redis({ port, host: '127.0.0.1' })
      await until(async () => (await node.cluster('INFO')).includes('cluster_state:ok'), `node ${port} sees the cluster ok`, { timeoutMs: 20_000 })
      node.disconnect()
    }
  } catch (err) {
    await nodes.stop()
    throw err
  }
  return { ports, stop: nodes.stop }
}
