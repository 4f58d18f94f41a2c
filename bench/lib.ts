// What the socket benchmarks share: the forked load client and the measuring around a batch.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Batch, BatchResult } from './client.js'

export interface Measured { cpuUs: number, rate: number, wrong: number }

/** The load generator (client.ts), in its own process so the server's CPU is the server's. */
export function startClient (): ChildProcess {
  return fork(fileURLToPath(new URL('./client.ts', import.meta.url)), { execArgv: ['--conditions=@wsguard/source', '--import', 'tsx'] })
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

/** Runs one batch; server CPU (this process) per handshake, handshakes/s, wrong outcomes. */
export async function measure (child: ChildProcess, batch: Batch): Promise<Measured> {
  await ask(child, { type: 'prepare', batch }, 'prepared')
  const before = process.cpuUsage()
  const result = await ask(child, { type: 'go' }, 'done') as unknown as BatchResult
  const cpu = process.cpuUsage(before)
  const n = result.ok + result.wrong
  return { cpuUs: (cpu.user + cpu.system) / n, rate: n / (result.elapsedMs / 1000), wrong: result.wrong }
}

export const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] as number }
