// CPU time from /proc (Linux), for the soak's report: how much of the machine the server, our
// clients and everything else (other work on the same cores) took over each sample interval.
import { readFileSync } from 'node:fs'

const TICKS_PER_S = 100 // USER_HZ; `getconf CLK_TCK` is 100 on Linux

/** CPU seconds (user + system) a process has used; 0 once it is gone. */
export function processCpuS (pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // from field 3 (state) on
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S // utime, stime
  } catch {
    return 0
  }
}

/** CPU seconds every core of the machine spent busy, and in all, since boot. */
export function machineCpuS (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0) // user … steal (guest time is inside user)
  const idle = (v[3] ?? 0) + (v[4] ?? 0) // idle, iowait
  return { busy: (total - idle) / TICKS_PER_S, total: total / TICKS_PER_S }
}

export interface CpuShare {
  /** each as a share of one core over the interval: 1.0 is a whole core */
  server: number
  clients: number
  machine: number
  /** the machine's busy time not used by the soak's own processes */
  others: number
}

/** Reads the CPU time of the server, the clients and the machine; each call gives the share since the last. */
export function cpuMeter (serverPid: () => number | undefined, clientPids: () => Array<number | undefined>): () => CpuShare {
  const read = (): { at: number, server: number, clients: number, self: number, machine: { busy: number, total: number } } => ({
    at: performance.now(),
    server: processCpuS(serverPid()),
    clients: clientPids().reduce<number>((a, pid) => a + processCpuS(pid), 0),
    self: processCpuS(process.pid),
    machine: machineCpuS()
  })
  let last = read()
  return () => {
    const now = read()
    const s = (now.at - last.at) / 1000
    const cores = (now.machine.total - last.machine.total) / s // about the number of cores
    const machine = (now.machine.busy - last.machine.busy) / (now.machine.total - last.machine.total) * cores
    const server = (now.server - last.server) / s
    const clients = (now.clients - last.clients) / s
    const self = (now.self - last.self) / s
    last = now
    return { server, clients, machine, others: Math.max(0, machine - server - clients - self) }
  }
}
