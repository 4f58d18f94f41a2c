// The soak's idle process (forked by soak.ts): it does nothing but ask for a timer every
// TICK_MS and notes how late each one fires. A process with no work of its own is late only
// when the machine does not run it at once (other processes, the kernel, the host under this
// VM), so its lateness is the machine's scheduling noise as any client sees it, apart from the
// server's: the share of the probe's handshake time that no server change reaches.
//
// It also opens a plain TCP connection to a listener of its own every DIAL_MS (the probe's
// pace) and times it to the client's `connect` event: the same phase as the probe's "client
// start → TCP connected", with no WebSocket, no token and no server of ours on either end.

import { createServer, connect, type AddressInfo } from 'node:net'
import { quantile } from './soak-report.js'

/** How often it asks for a timer, ms. */
const TICK_MS = 2
/** How often it dials its own listener, ms. */
const DIAL_MS = 200

export type IdleCommand = { type: 'idle-start' } | { type: 'idle-stop' }
export interface Summary { n: number, p50: number, p99: number, p999: number, max: number }
/** How late its timers fired between start and stop, ms; and how long its plain TCP connects took. */
export interface Lateness extends Summary { type: 'lateness', connect: Summary & { failed: number } }

let samples: number[] = []
let dials: number[] = []
let failedDials = 0
let running = false
let timer: NodeJS.Timeout | undefined
let dialer: NodeJS.Timeout | undefined

// Only the dialling side is timed; an accepted connection ends when its dialler drops it (a reset
// sent first could fail the dialler's connect before it is counted).
const listener = createServer((socket) => {
  socket.on('error', () => {})
  socket.resume()
})

function tick (): void {
  const asked = performance.now()
  timer = setTimeout(() => {
    samples.push(Math.max(0, performance.now() - asked - TICK_MS))
    if (running) tick()
  }, TICK_MS)
}

function dial (): void {
  const asked = performance.now()
  const socket = connect({ host: '127.0.0.1', port: (listener.address() as AddressInfo).port }, () => {
    dials.push(performance.now() - asked)
    socket.destroy()
  })
  socket.on('error', () => { failedDials++ })
}

function summary (xs: number[]): Summary {
  return { n: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), p999: quantile(xs, 0.999), max: quantile(xs, 1) }
}

process.on('message', (c: IdleCommand) => {
  if (c.type === 'idle-start') {
    samples = []
    dials = []
    failedDials = 0
    running = true
    if (timer === undefined) tick()
    dialer ??= setInterval(dial, DIAL_MS)
  } else {
    running = false
    clearTimeout(timer)
    clearInterval(dialer)
    timer = dialer = undefined
    process.send?.({ type: 'lateness', ...summary(samples), connect: { ...summary(dials), failed: failedDials } } satisfies Lateness)
  }
})
process.on('disconnect', () => process.exit(0))
listener.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready' }))
