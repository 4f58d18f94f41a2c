// What one connect() costs when the source address already holds most of the ephemeral ports
// for the destination (the soak's rig: 19,000 connections from 127.0.0.1 to one port), against
// a source address of its own. No WebSocket and no wsguard: a listener that holds what it
// accepts (a child process, for the descriptor limit) and plain TCP connects.
// `npx -y pnpm@12.4.2 --filter @wsguard/bench port-search` (HELD=19000 by default). Connections
// closed by this host in the last minute (TIME_WAIT) hold ports too: run it on a quiet machine.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { fork } from 'node:child_process'
import { quantile } from './soak-report.js'

const ROUNDS = 200

if (process.argv[2] === 'listener') {
  const held: Socket[] = []
  const server = createServer((socket) => { held.push(socket); socket.on('error', () => {}) })
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port))
  // The listener closes first, so the TIME_WAITs land on its side and leave the dialler's ports free for the next run.
  process.on('message', () => { for (const socket of held) socket.destroy() })
} else {
  const listener = fork(new URL(import.meta.url).pathname, ['listener'], { execArgv: ['--import', 'tsx'] })
  const port = await new Promise<number>((resolve) => listener.once('message', (p) => { resolve(p as number) }))
  const HELD = Number(process.env.HELD ?? 19_000)

  const dial = (localAddress: string): Promise<[Socket, number]> => new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => { resolve([socket, performance.now() - started]) })
    socket.once('error', reject)
  })

  async function timed (held: number): Promise<void> {
    const ms: Record<string, number[]> = { '127.0.0.1': [], '127.0.0.2': [] }
    for (let i = 0; i < ROUNDS; i++) {
      for (const [from, xs] of Object.entries(ms)) {
        const [socket, took] = await dial(from)
        xs.push(took)
        socket.destroy()
      }
    }
    for (const [from, xs] of Object.entries(ms)) {
      console.log(`| ${held} | ${from} | ${quantile(xs, 0.5).toFixed(3)} | ${quantile(xs, 0.99).toFixed(3)} |`)
    }
  }

  console.log(`connect() to 127.0.0.1:${port}, ${ROUNDS} each, alternated; ms\n\n| connections held from 127.0.0.1 | new connection from | p50 | p99 |\n|---:|---|---:|---:|`)
  await timed(0)
  const held: Socket[] = []
  for (let k = 0; k < HELD; k += 500) {
    const batch = await Promise.all(Array.from({ length: Math.min(500, HELD - k) }, () => dial('127.0.0.1')))
    for (const [socket] of batch) held.push(socket)
  }
  await timed(held.length)
  const closed = held.map((socket) => new Promise<void>((resolve) => { socket.once('close', () => { resolve() }); socket.resume() }))
  listener.send('release')
  await Promise.all(closed)
  listener.kill()
}
