// Redis stores (pnpm --filter @wsguard/bench redis): @wsguard/redis against the real Redis on
// 127.0.0.1:6379, under a random key prefix whose keys are deleted at the end. Three parts:
//   revocation  N sockets on instance B (one subject each), revoked one at a time from instance A:
//               the time from just before A's revoke() to the 4403 close frame at B's client
//   handshakes  session-expiry in memory vs on the Redis stores (without and with a cap), server
//               CPU per handshake and handshakes/s, alternating rounds, load from client.ts (forked)
//   commands    Redis commands sent per handshake (with and without a cap) and per revocation,
//               counted on this process's ioredis clients (and the server's total, for comparison)
// Every instance is a Fastify app in this process with @fastify/websocket, auth-handshake (ES256,
// static JWKS) and session-expiry; each Redis-backed one has its own redisStores on the shared prefix.
import './built.js'
import { randomUUID } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { redisStores, type RedisStores } from '@wsguard/redis'
import { claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'
import type { TokenSpec } from './client.js'
import { measure, median, pin, socketTracker, startClient, type Measured } from './lib.js'

// built.ts does not know @wsguard/redis: the same check for it, here.
const redisEntry = fileURLToPath(import.meta.resolve('@wsguard/redis'))
if (redisEntry.endsWith('index.js')) {
  const src = fileURLToPath(new URL('../packages/redis/src/index.ts', import.meta.url))
  if (!existsSync(redisEntry) || statSync(src).mtimeMs > statSync(redisEntry).mtimeMs) {
    console.error('bench: @wsguard/redis dist/ is missing or older than src/; run `npx -y pnpm@12.4.2 build` first')
    process.exit(1)
  }
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const REVOCATIONS = Number(process.env.REVOCATIONS ?? 1000)
const ROUNDS = Number(process.env.ROUNDS ?? 7)
const COUNT = Number(process.env.COUNT ?? 1000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8)
const COMMAND_HANDSHAKES = Number(process.env.COMMAND_HANDSHAKES ?? 1000)
/** RATE=<handshakes/s>: every scenario offered the same paced load (client.ts ratePerS), not as fast as each answers */
const RATE = process.env.RATE === undefined ? undefined : Number(process.env.RATE)
const WAIT_MS = 5_000
const ISS = 'https://idp.bench'
const AUD = 'feed-api'
const key = generateKey('ES256')
const prefix = `wsg-bench-${randomUUID().slice(0, 8)}:`

// Commands this process's ioredis clients send (every client but `admin`), by name.
const admin = new Redis(REDIS_URL)
const sent = new Map<string, number>()
const originalSend = Redis.prototype.sendCommand
Redis.prototype.sendCommand = function (this: Redis, command, stream) {
  if (this !== admin) sent.set(command.name, (sent.get(command.name) ?? 0) + 1)
  return originalSend.call(this, command, stream)
}

/** Calls by command on the Redis server (INFO commandstats: every client, and commands run inside scripts). */
async function serverStats (): Promise<Map<string, number>> {
  const info = await admin.info('commandstats')
  const out = new Map<string, number>()
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] as string, Number(m[2]))
  return out
}

async function serverDiff (before: Map<string, number>): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const [k, v] of await serverStats()) {
    if (k !== 'info' && k !== 'scan' && v - (before.get(k) ?? 0) > 0) out.set(k, v - (before.get(k) ?? 0))
  }
  return out
}

interface Instance { app: FastifyInstance, url: string, stores?: RedisStores }
const instances: Instance[] = []
const sockets = socketTracker()

async function instance (redis: boolean, maxSessionsPerPrincipal = 0): Promise<Instance> {
  const stores = redis ? redisStores({ url: REDIS_URL }, { keyPrefix: prefix }) : undefined
  await stores?.ready()
  const app = Fastify()
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } })
  await app.register(sessionExpiry, {
    heartbeatMs: 0,
    idleTimeoutMs: 0,
    maxSessionsPerPrincipal,
    ...(stores === undefined ? {} : { registry: stores.registry, revocations: stores.revocations })
  })
  app.get('/feed', { websocket: true }, (socket) => { socket.on('message', () => {}) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  sockets.track(app)
  const made: Instance = { app, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`, ...(stores === undefined ? {} : { stores }) }
  instances.push(made)
  return made
}

const token = (sub: string): string => mintToken(key, { ...claimsFor(ISS, AUD, sub, Date.now(), 3600), jti: randomUUID() })

interface Open { ws: WebSocket, closed: Promise<number> }

/** Opens a socket (bounded); rejects on a refusal or after WAIT_MS. */
function open (url: string, tok: string): Promise<Open> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${tok}` }, perMessageDeflate: false })
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('open timed out')) }, WAIT_MS)
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.once('open', () => { clearTimeout(timer); resolve({ ws, closed }) })
    ws.once('unexpected-response', (_req, res) => { clearTimeout(timer); res.resume(); reject(new Error(`refused ${String(res.statusCode)}`)) })
    ws.once('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

function within<T> (p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms) })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

const q = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number

async function revocationPart (a: Instance, b: Instance): Promise<void> {
  const opened: Open[] = []
  for (let i = 0; i < REVOCATIONS; i++) opened.push(await open(b.url, token(`user-${i}`)))
  const latencies: number[] = []
  const codes = new Map<string, number>()
  let failures = 0
  const before = snapshot()
  const serverBefore = await serverStats()
  const started = performance.now()
  for (let i = 0; i < REVOCATIONS; i++) {
    const t0 = performance.now()
    const revoked = a.app.wsSessions.revoke({ subject: `user-${i}` })
    const code = await within((opened[i] as Open).closed, WAIT_MS)
    const t1 = performance.now()
    if (await within(revoked.then(() => 'ok', () => 'rejected'), WAIT_MS) !== 'ok') codes.set('revoke() failed', (codes.get('revoke() failed') ?? 0) + 1)
    if (code !== 4403) {
      failures++
      codes.set(String(code), (codes.get(String(code)) ?? 0) + 1)
      ;(opened[i] as Open).ws.terminate()
    } else latencies.push(t1 - t0)
  }
  const elapsedS = (performance.now() - started) / 1000
  await sockets.settle()
  const used = diff(before)
  const serverUsed = await serverDiff(serverBefore)
  latencies.sort((x, y) => x - y)
  console.log(`\n## Revocation propagation: ${REVOCATIONS} sockets on B, each subject revoked from A, one at a time (${elapsedS.toFixed(1)} s)\n`)
  console.log('| closed 4403 | failures (other code or > 5 s) | p50 ms | p90 ms | p99 ms | max ms | min ms |')
  console.log('|---:|---:|---:|---:|---:|---:|---:|')
  const f = (x: number): string => x.toFixed(2)
  console.log(`| ${latencies.length} | ${failures}${codes.size > 0 ? ` ${JSON.stringify(Object.fromEntries(codes))}` : ''} | ${f(q(latencies, 0.5))} | ${f(q(latencies, 0.9))} | ${f(q(latencies, 0.99))} | ${f(latencies[latencies.length - 1] ?? NaN)} | ${f(latencies[0] ?? NaN)} |`)
  commandRows.push(['per revocation (A revokes; B closes the socket and removes the session)', used, REVOCATIONS, serverUsed])
}

function snapshot (): Map<string, number> { return new Map(sent) }
function diff (before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>()
  for (const [k, v] of sent) if (v - (before.get(k) ?? 0) > 0) out.set(k, v - (before.get(k) ?? 0))
  return out
}

const commandRows: Array<[string, Map<string, number>, number, Map<string, number>]> = []

async function handshakePart (memory: Instance, redis: Instance, capped: Instance): Promise<void> {
  const tokens: TokenSpec = { kind: 'fresh', key: { alg: key.alg, kid: key.kid, privateJwk: key.privateJwk }, claims: claimsFor(ISS, AUD, 'bench', Date.now(), 3600) }
  const scenarios = [
    { name: 'session-expiry in memory (no registry/revocations options)', url: memory.url },
    { name: 'session-expiry on redisStores', url: redis.url },
    { name: 'session-expiry on redisStores, maxSessionsPerPrincipal 1000', url: capped.url }
  ]
  // ONLY=memory|redis|capped runs that scenario alone (with its commands row), e.g. for a CPU profile of it.
  const only = process.env.ONLY
  if (only !== undefined) scenarios.splice(0, scenarios.length, ...scenarios.filter((_, i) => ['memory', 'redis', 'capped'][i] === only))
  const child = startClient()
  const pinned = pin(child.pid, 0) && pin(process.pid, 1)
  const run = (url: string, count = COUNT): Promise<Measured> =>
    measure(child, { url, count, concurrency: CONCURRENCY, carrier: 'header', tokens, expect: 'open', timeoutMs: 60_000, ...(RATE !== undefined ? { ratePerS: RATE } : {}) }, sockets.settle)
  for (const s of scenarios) await run(s.url) // warm-up
  const samples = new Map<string, Measured[]>(scenarios.map((s) => [s.name, []]))
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? scenarios : [...scenarios].reverse()
    for (const s of order) samples.get(s.name)?.push(await run(s.url))
    process.stderr.write(`handshakes: round ${r + 1}/${ROUNDS}\n`)
  }
  // Commands: a fixed number of handshakes on each Redis-backed instance, sockets closed after.
  const commandScenarios = [['per handshake, no cap (session opened and closed)', redis.url], ['per handshake, maxSessionsPerPrincipal set (session opened and closed)', capped.url]] as const
  for (const [label, url] of commandScenarios.filter(([, url]) => scenarios.some((s) => s.url === url))) {
    const before = snapshot()
    const serverBefore = await serverStats()
    const m = await run(url, COMMAND_HANDSHAKES)
    await new Promise((resolve) => setTimeout(resolve, 200)) // registry.remove is sent after the close, off the handshake path
    commandRows.push([label, diff(before), COMMAND_HANDSHAKES - m.wrong, await serverDiff(serverBefore)])
  }
  child.disconnect()
  const base = samples.get(scenarios[0]!.name) ?? []
  console.log(`\n## Handshakes: ${ROUNDS} rounds x ${COUNT}, ${CONCURRENCY} at a time${RATE !== undefined ? `, paced at ${RATE}/s` : ''}, alternating order; pinned: ${String(pinned)}; node ${process.version}\n`)
  console.log('| scenario | server CPU µs/handshake | vs memory (paired by round) | handshakes/s | time per handshake vs memory (paired) | wrong |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const s of scenarios) {
    const ms = samples.get(s.name) ?? []
    const cpuRatio = median(ms.map((m, i) => m.cpuUs / (base[i] as Measured).cpuUs))
    const rateRatio = median(ms.map((m, i) => (base[i] as Measured).rate / m.rate))
    console.log(`| ${s.name} | ${median(ms.map((m) => m.cpuUs)).toFixed(0)} | ${cpuRatio.toFixed(2)}x | ${median(ms.map((m) => m.rate)).toFixed(0)} | ${rateRatio.toFixed(2)}x | ${ms.reduce((a, m) => a + m.wrong, 0)} |`)
  }
}

function commandTable (): void {
  console.log('\n## Redis commands per unit: sent by this process\'s ioredis clients, and executed by the server')
  console.log('(INFO commandstats delta: counts the commands run inside the scripts, and any other client of that Redis)\n')
  console.log('| what | count | sent | sent, by command | executed | executed, by command |')
  console.log('|---|---:|---:|---|---:|---|')
  const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, v) => a + v, 0)
  const by = (m: Map<string, number>, n: number): string => [...m].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${(v / n).toFixed(2)}`).join(', ')
  for (const [label, used, n, server] of commandRows) {
    console.log(`| ${label} | ${n} | ${(sum(used) / n).toFixed(2)} | ${by(used, n)} | ${(sum(server) / n).toFixed(2)} | ${by(server, n)} |`)
  }
}

async function deleteKeys (): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000)
    cursor = next
    for (const k of keys) deleted += await admin.del(k)
  } while (cursor !== '0')
  return deleted
}

async function main (): Promise<void> {
  const watchdog = setTimeout(() => { console.error('bench: redis.ts ran past 5 minutes; stopping'); process.exit(1) }, 300_000)
  watchdog.unref()
  try {
    const a = await instance(true)
    const b = await instance(true)
    const memory = await instance(false)
    const capped = await instance(true, 1000)
    const parts = (process.env.PARTS ?? 'revocation,handshakes').split(',')
    if (parts.includes('revocation')) await revocationPart(a, b)
    if (parts.includes('handshakes')) await handshakePart(memory, a, capped)
    commandTable()
    console.log(`\nRedis ${(/redis_version:(\S+)/.exec(await admin.info('server')))?.[1] ?? '?'} at ${REDIS_URL}; key prefix ${prefix}`)
  } finally {
    for (const i of instances) await i.app.close()
    for (const i of instances) await i.stores?.close()
    const deleted = await deleteKeys()
    process.stderr.write(`deleted ${deleted} key(s) under {${prefix}}\n`)
    admin.disconnect()
  }
  process.exit(0)
}

await main()
