// The soak's idle process (forked by soak.ts): it does nothing but ask for a timer every
// TICK_MS and notes how late each one fires. A process with no work of its own is late only
// when the machine does not run it at once (other processes, the kernel, the host under this
// VM), so its lateness is the machine's scheduling noise as any client sees it, apart from the
// server's: the share of the probe's handshake time that no server change reaches.

import { quantile } from './soak-report.js'

/** How often it asks for a timer, ms. */
const TICK_MS = 2

export type IdleCommand = { type: 'idle-start' } | { type: 'idle-stop' }
/** How late its timers fired between start and stop, ms. */
export interface Lateness { type: 'lateness', n: number, p50: number, p99: number, p999: number, max: number }

let samples: number[] = []
let running = false
let timer: NodeJS.Timeout | undefined

function tick (): void {
  const asked = performance.now()
  timer = setTimeout(() => {
    samples.push(Math.max(0, performance.now() - asked - TICK_MS))
    if (running) tick()
  }, TICK_MS)
}

function summary (xs: number[]): Lateness {
  return { type: 'lateness', n: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), p999: quantile(xs, 0.999), max: quantile(xs, 1) }
}

process.on('message', (c: IdleCommand) => {
  if (c.type === 'idle-start') {
    samples = []
    running = true
    if (timer === undefined) tick()
  } else {
    running = false
    clearTimeout(timer)
    timer = undefined
    process.send?.(summary(samples))
  }
})
process.on('disconnect', () => process.exit(0))
process.send?.({ type: 'ready' })
