// A burst of in-band refreshes: SESSIONS sockets send auth.refresh at the same moment, and a
// probe handshake starts with them. Reported: the probe's handshake time (against the same
// handshake on the idle server, in the same run), the server's longest event-loop stall
// during the burst, and how long until every refresh was answered. ROUNDS rounds.
// The server is a child process; the sockets and the probe are this one.
import './built.js'
import { fork } from 'node:child_process'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'

const SESSIONS = Number(process.env.SESSIONS ?? 2000)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const ISS = 'https://idp.test'
const AUD = 'api'

async function serve (): Promise<void> {
  const app = Fastify()
  await app.register(websocket)
  // No verified-token cache: every refresh pays its signature, as fresh tokens do.
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: { keys: [JSON.parse(process.env.KEY as string)] } }, verifiedTokenCacheSize: 0 })
  await app.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0 })
  app.get('/ws', { websocket: true }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  const stalls = monitorEventLoopDelay({ resolution: 1 })
  // The driver gone (its watchdog, a crash): the server goes too.
  process.once('disconnect', () => { process.exit(0) })
  process.on('message', (m: string) => {
    if (m === 'arm') {
      stalls.reset()
      stalls.enable()
      process.send?.('armed')
    } else if (m === 'read') {
      stalls.disable()
      process.send?.({ maxMs: stalls.max / 1e6 })
    } else process.exit(0)
  })
  process.send?.({ port: (app.server.address() as { port: number }).port })
}

/** Every wait below is bounded: a run that takes longer than this fails. */
const WATCHDOG_MS = 5 * 60_000

async function drive (): Promise<void> {
  const key = generateKey('ES256')
  const child = fork(fileURLToPath(import.meta.url), ['serve'], { execArgv: ['--import', 'tsx'], env: { ...process.env, KEY: JSON.stringify(jwks(key).keys[0]) } })
  setTimeout(() => {
    console.error(`refresh-burst: not done after ${WATCHDOG_MS} ms (a refresh unanswered, or a socket that never opened)`)
    child.kill()
    process.exit(1)
  }, WATCHDOG_MS).unref()
  const answer = <T>(): Promise<T> => new Promise((resolve) => child.once('message', (m) => { resolve(m as T) }))
  const { port } = await answer<{ port: number }>()
  const token = (sub: string, lifetimeS: number): string => mintToken(key, claimsFor(ISS, AUD, sub, Date.now(), lifetimeS))
  const open = (t: string): Promise<WebSocket> => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${t}` }, perMessageDeflate: false })
    ws.once('open', () => { resolve(ws) })
    ws.once('error', reject)
  })
  const probe = async (): Promise<number> => {
    const started = performance.now()
    const ws = await open(token('probe', 600))
    const ms = performance.now() - started
    ws.close()
    return ms
  }
  const sockets: WebSocket[] = []
  for (let i = 0; i < SESSIONS; i += 50) sockets.push(...await Promise.all(Array.from({ length: Math.min(50, SESSIONS - i) }, (_, k) => open(token(`u${i + k}`, 600)))))
  const rows: string[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const frames = sockets.map((_, i) => JSON.stringify({ type: 'auth.refresh', token: token(`u${i}`, 700 + 100 * round) }))
    const idle = await probe()
    child.send('arm')
    await answer()
    const started = performance.now()
    let answered = 0
    const all = new Promise<number>((resolve) => {
      for (const ws of sockets) ws.once('message', () => { if (++answered === SESSIONS) resolve(performance.now() - started) })
    })
    for (let i = 0; i < SESSIONS; i++) (sockets[i] as WebSocket).send(frames[i] as string)
    const during = await probe()
    const allMs = await all
    child.send('read')
    const { maxMs } = await answer<{ maxMs: number }>()
    rows.push(`| ${round + 1} | ${idle.toFixed(1)} | ${during.toFixed(1)} | ${(during / idle).toFixed(1)}× | ${maxMs.toFixed(1)} | ${allMs.toFixed(0)} |`)
  }
  for (const ws of sockets) ws.terminate()
  child.send('stop')
  console.log(`\n## ${SESSIONS} refreshes sent at once (ES256, no verified-token cache), Node ${process.version}\n`)
  console.log('| round | probe handshake, idle server, ms | probe handshake started with the burst, ms | ratio | server\'s longest stall, ms | every refresh answered after, ms |')
  console.log('|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) console.log(r)
}

if (process.argv[2] === 'serve') await serve()
else await drive()
