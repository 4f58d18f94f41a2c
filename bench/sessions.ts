// Session benchmarks (pnpm bench). Four parts, each in its own child process so heaps do not mix:
//   arm      the cost to arm and to move a deadline in the scheduler's heap, at 20,000 sessions
//   revocations  the check every handshake and refresh makes, against 0 to 100,000 kept revocations
//   memory   heap and RSS per open socket, bare @fastify/websocket vs with session-expiry,
//            and vs the whole stack (all four plugins, a real ES256 token per socket)
//   lateness 20,000 sessions whose credentials expire over one minute: how late each close is
// Sockets come from @fastify/websocket's injectWS (real ws framing over in-memory streams):
// 20,000 loopback sockets would need more than this machine's 20,000 file descriptors per
// process on the server side alone.
import './built.js'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { requirePrincipal, systemTimerClock, type Principal } from '@wsguard/core'
import { MemoryRevocationStore, sessionExpiry } from '@wsguard/session-expiry'
import { authHandshake } from '@wsguard/auth-handshake'
import { topicAuthz } from '@wsguard/topic-authz'
import { telemetry } from '@wsguard/telemetry'
import { Type } from '@sinclair/typebox'
import { generateKey, jwks, claimsFor, mintToken } from '@wsguard/testing'
import type { Scheduled, Scheduler as SchedulerClass } from '../packages/session-expiry/src/scheduler.js'

// The scheduler is internal (not exported): the compiled one, by path (named in a variable so
// typechecking, which runs before any build, does not look for it).
const schedulerPath = '../packages/session-expiry/dist/scheduler.js'
const { Scheduler } = await import(schedulerPath) as { Scheduler: typeof SchedulerClass }
const SESSIONS = Number(process.env.SESSIONS ?? 20_000)
const SPREAD_MS = Number(process.env.SPREAD_MS ?? 60_000)
const GRACE_MS = 1_000
const mode = process.argv[2]

function principalFor (i: number, expiresAt: number): Principal {
  return Object.freeze({
    id: `user-${i}`,
    kind: 'user',
    method: 'jwt',
    issuer: 'https://idp.test',
    scopes: Object.freeze(['feed:read']),
    sessionId: `sid-${i}`,
    tokenId: `jti-${i}`,
    expiresAt,
    claims: Object.freeze({ sub: `user-${i}`, iat: Math.floor(Date.now() / 1000), exp: expiresAt / 1000 })
  })
}

/** A server whose onRequest hook sets a principal (expiry from the `x-exp` header), with or without sessions. */
async function server (withSessions: boolean): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(websocket)
  app.decorateRequest('principal', null as unknown as Principal)
  app.addHook('onRequest', async (req) => {
    const i = Number(req.headers['x-i'])
    req.principal = principalFor(i, Number(req.headers['x-exp']))
  })
  if (withSessions) await app.register(sessionExpiry, { graceMs: GRACE_MS, refresh: false })
  app.get('/feed', { websocket: true }, (socket, req) => {
    socket.on('message', () => {})
    if (onClose !== undefined) {
      // Instrumentation: the moment the server sends its close frame, with the code.
      // ws calls close() again itself when the peer's close frame arrives: count the first call only.
      const close = socket.close.bind(socket)
      let first = true
      socket.close = (code?: number, reason?: string | Buffer) => {
        if (first) onClose?.(requirePrincipal(req), code as number)
        first = false
        close(code, reason)
      }
    }
  })
  await app.ready()
  return app
}

/**
 * All four plugins as an app registers them (bench/stack.ts's whole stack, logger off): the
 * principal comes from a real ES256 token per socket, minted before the baseline is read.
 */
async function stackServer (): Promise<{ app: FastifyInstance, tokens: string[] }> {
  const key = generateKey('ES256')
  const iss = 'https://idp.bench'
  const aud = 'feed-api'
  const now = Date.now()
  const tokens = Array.from({ length: SESSIONS }, (_, i) => mintToken(key, { ...claimsFor(iss, aud, `user-${i}`, now, 3600), jti: `jti-${i}`, scope: 'feed:read', tenant: 'acme' }))
  const app = Fastify()
  await app.register(websocket)
  const without = (process.env.STACK_WITHOUT ?? '').split(',')
  if (!without.includes('telemetry')) {
    await app.register(telemetry, {
      anomalies: {
        reconnectStorm: { perIp: { max: 1_000_000, windowMs: 60_000 }, perPrincipal: { max: 1_000_000, windowMs: 60_000 } },
        failureSpike: { ratio: 5, minPerMinute: 1_000_000 },
        longSession: { afterMs: 12 * 3600_000 }
      }
    })
  }
  await app.register(authHandshake, { jwt: { issuer: iss, audience: aud, algorithms: ['ES256'], jwks: jwks(key), claims: Type.Object({ tenant: Type.String() }) } })
  if (!without.includes('topics')) await app.register(topicAuthz, { policies: [{ pattern: 'prices.{tenant}.>', actions: ['subscribe'], scopes: ['feed:read'], where: { tenant: 'claims.tenant' } }] })
  if (!without.includes('expiry')) await app.register(sessionExpiry, { graceMs: GRACE_MS })
  app.get('/feed/:tenant', { websocket: true, config: { auth: { scopes: ['feed:read'] }, ...(without.includes('topics') ? {} : { handshakeTopic: { action: 'subscribe', topic: 'prices.{params.tenant}.all' } }) } }, (socket) => {
    socket.on('message', () => {})
  })
  await app.ready()
  return { app, tokens }
}

async function memoryStack (): Promise<void> {
  const { app, tokens } = await stackServer()
  gcNow()
  const before = process.memoryUsage()
  const sockets: unknown[] = []
  for (let i = 0; i < SESSIONS; i++) sockets.push(await app.injectWS('/feed/acme', { headers: { authorization: `Bearer ${tokens[i] as string}` } }))
  tokens.length = 0 // the client's copies are not the server's memory
  gcNow()
  gcNow()
  const after = process.memoryUsage()
  process.send?.({ heap: (after.heapUsed - before.heapUsed) / SESSIONS, rss: (after.rss - before.rss) / SESSIONS, open: sockets.length })
  process.exit(0)
}

let onClose: ((principal: Principal, code: number) => void) | undefined

async function openAll (app: FastifyInstance, expiry: (i: number) => number): Promise<unknown[]> {
  const sockets: unknown[] = []
  for (let i = 0; i < SESSIONS; i++) {
    sockets.push(await app.injectWS('/feed', { headers: { 'x-i': String(i), 'x-exp': String(expiry(i)) } }))
  }
  return sockets
}

function gcNow (): void { (globalThis as { gc?: () => void }).gc?.() }

async function memory (withSessions: boolean): Promise<void> {
  const app = await server(withSessions)
  gcNow()
  const before = process.memoryUsage()
  const sockets = await openAll(app, () => Date.now() + 3_600_000)
  gcNow()
  gcNow()
  const after = process.memoryUsage()
  process.send?.({ heap: (after.heapUsed - before.heapUsed) / SESSIONS, rss: (after.rss - before.rss) / SESSIONS, open: sockets.length })
  process.exit(0)
}

async function lateness (): Promise<void> {
  onClose = () => {}
  const app = await server(true)
  const late: number[] = []
  const codes = new Map<number, number>()
  onClose = (principal, code) => {
    late.push(Date.now() - ((principal.expiresAt as number) + GRACE_MS))
    codes.set(code, (codes.get(code) ?? 0) + 1)
  }
  // Expiries in whole seconds, as JWT exp are, spread over SPREAD_MS after every socket is open.
  const openStarted = Date.now()
  const estimatedOpenMs = 30_000
  const base = Math.ceil((openStarted + estimatedOpenMs) / 1000) * 1000
  await openAll(app, (i) => base + Math.floor((i * SPREAD_MS / SESSIONS) / 1000) * 1000)
  const openMs = Date.now() - openStarted
  if (Date.now() > base) throw new Error(`opening took ${openMs} ms, past the first expiry; raise estimatedOpenMs`)
  const deadline = base + SPREAD_MS + GRACE_MS + 30_000
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (late.length >= SESSIONS) { clearInterval(check); resolve() }
      if (Date.now() > deadline) { clearInterval(check); reject(new Error(`only ${late.length} closes by the deadline`)) }
    }, 250)
  })
  late.sort((a, b) => a - b)
  const q = (p: number): number => late[Math.min(late.length - 1, Math.floor(p * late.length))] as number
  process.send?.({ openMs, p50: q(0.5), p99: q(0.99), max: late[late.length - 1], min: late[0], codes: Object.fromEntries(codes) })
  process.exit(0)
}

function arm (): void {
  const s = new Scheduler(systemTimerClock, () => {})
  const now = Date.now()
  const items: Scheduled[] = Array.from({ length: SESSIONS }, () => ({ dueAt: 0, heapIndex: -1, fire () {} }))
  let r = 12345
  const rand = (): number => { r = (r * 1103515245 + 12345) & 0x7fffffff; return r / 0x7fffffff }
  let t0 = performance.now()
  for (const it of items) s.arm(it, now + 60_000 + rand() * 3_600_000)
  const insertNs = (performance.now() - t0) * 1e6 / SESSIONS
  const MOVES = 200_000
  t0 = performance.now()
  for (let k = 0; k < MOVES; k++) s.arm(items[k % SESSIONS] as Scheduled, now + 60_000 + rand() * 3_600_000)
  const moveNs = (performance.now() - t0) * 1e6 / MOVES
  t0 = performance.now()
  for (const it of items) s.cancel(it)
  const cancelNs = (performance.now() - t0) * 1e6 / SESSIONS
  process.send?.({ insertNs, moveNs, cancelNs })
  process.exit(0)
}

const REVOCATION_SIZES = [0, 1_000, 10_000, 100_000]

/** ns per isRevoked() of a principal nobody revoked (a handshake's usual case), per store size. */
async function revocations (): Promise<void> {
  const now = Date.now()
  const out: Record<string, number> = {}
  for (const size of REVOCATION_SIZES) {
    const store = new MemoryRevocationStore()
    // A logout-heavy mix: 80% token ids, 10% sessions, 10% subjects, all still live.
    for (let i = 0; i < size; i++) {
      const filter = i % 10 === 0 ? { sessionId: `sid-r${i}` } : i % 10 === 1 ? { subject: `user-r${i}` } : { tokenId: `jti-r${i}` }
      await store.revoke({ filter, at: now, until: now + 3_600_000 })
    }
    const principals = Array.from({ length: 1024 }, (_, i) => principalFor(i, now + 3_600_000))
    const CHECKS = 1_000_000
    let revoked = 0
    for (let k = 0; k < 100_000; k++) if (store.isRevoked(principals[k & 1023] as Principal, now)) revoked++ // warm-up
    const t0 = performance.now()
    for (let k = 0; k < CHECKS; k++) if (store.isRevoked(principals[k & 1023] as Principal, now)) revoked++
    out[String(size)] = (performance.now() - t0) * 1e6 / CHECKS
    if (revoked !== 0) throw new Error('a principal nobody revoked was refused')
  }
  process.send?.(out)
  process.exit(0)
}

function child (args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = fork(fileURLToPath(import.meta.url), args, { execArgv: ['--import', 'tsx', '--expose-gc', '--max-old-space-size=4096'] })
    c.once('message', (m) => resolve(m as Record<string, unknown>))
    c.once('exit', (code) => { if (code !== 0) reject(new Error(`${args.join(' ')} exited ${String(code)}`)) })
  })
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] as number }

async function main (): Promise<void> {
  const parts = (process.env.PARTS ?? 'arm,revocations,memory,lateness').split(',')
  if (parts.includes('arm')) await armPart()
  if (parts.includes('revocations')) await revocationsPart()
  if (parts.includes('memory')) await memoryPart()
  if (parts.includes('lateness')) await latenessPart()
}

async function armPart (): Promise<void> {
  const arms: Array<Record<string, number>> = []
  for (let i = 0; i < 5; i++) arms.push(await child(['arm']) as Record<string, number>)
  console.log(`\n## Scheduler, ${SESSIONS} deadlines, median of 5 processes\n`)
  console.log('| operation | ns |')
  console.log('|---|---:|')
  for (const k of ['insertNs', 'moveNs', 'cancelNs']) console.log(`| ${k.replace('Ns', '')} | ${median(arms.map((a) => a[k] as number)).toFixed(0)} |`)
}

async function revocationsPart (): Promise<void> {
  const runs: Array<Record<string, number>> = []
  for (let i = 0; i < 3; i++) runs.push(await child(['revocations']) as Record<string, number>)
  const at = (size: number): number => median(runs.map((r) => r[String(size)] as number))
  console.log('\n## Revocation check (MemoryRevocationStore.isRevoked, a principal nobody revoked), median of 3 processes\n')
  console.log('| revocations kept | ns per check | vs none kept |')
  console.log('|---:|---:|---:|')
  for (const size of REVOCATION_SIZES) console.log(`| ${size} | ${at(size).toFixed(0)} | ${(at(size) / at(0)).toFixed(2)}x |`)
}

async function memoryPart (): Promise<void> {
  const mem: Record<string, Array<Record<string, number>>> = { plain: [], session: [], stack: [] }
  for (let i = 0; i < 3; i++) {
    mem.plain?.push(await child(['memory-plain']) as Record<string, number>)
    mem.session?.push(await child(['memory-session']) as Record<string, number>)
    mem.stack?.push(await child(['memory-stack']) as Record<string, number>)
  }
  const heapStack = median((mem.stack ?? []).map((m) => m.heap as number))
  const rssStack = median((mem.stack ?? []).map((m) => m.rss as number))
  const heapPlain = median((mem.plain ?? []).map((m) => m.heap as number))
  const heapSession = median((mem.session ?? []).map((m) => m.heap as number))
  const rssPlain = median((mem.plain ?? []).map((m) => m.rss as number))
  const rssSession = median((mem.session ?? []).map((m) => m.rss as number))
  console.log(`\n## Memory per open socket, ${SESSIONS} sockets, median of 3 processes each (after gc)\n`)
  console.log('| server | heap bytes/socket | RSS bytes/socket |')
  console.log('|---|---:|---:|')
  console.log(`| bare @fastify/websocket | ${heapPlain.toFixed(0)} | ${rssPlain.toFixed(0)} |`)
  console.log(`| with session-expiry | ${heapSession.toFixed(0)} | ${rssSession.toFixed(0)} |`)
  console.log(`| **difference: per session** | **${(heapSession - heapPlain).toFixed(0)}** | ${(rssSession - rssPlain).toFixed(0)} |`)
  console.log(`| whole stack (four plugins, real token) | ${heapStack.toFixed(0)} | ${rssStack.toFixed(0)} |`)
  console.log(`| **difference: whole stack vs bare** | **${(heapStack - heapPlain).toFixed(0)}** | ${(rssStack - rssPlain).toFixed(0)} |`)
}

async function latenessPart (): Promise<void> {
  const l = await child(['lateness'])
  console.log(`\n## Close lateness, ${SESSIONS} sessions expiring over ${SPREAD_MS / 1000} s (grace ${GRACE_MS} ms)\n`)
  console.log('| opened in (ms) | p50 (ms) | p99 (ms) | max (ms) | min (ms) | close codes |')
  console.log('|---:|---:|---:|---:|---:|---|')
  console.log(`| ${String(l.openMs)} | ${String(l.p50)} | ${String(l.p99)} | ${String(l.max)} | ${String(l.min)} | ${JSON.stringify(l.codes)} |`)
}

if (mode === 'arm') arm()
else if (mode === 'revocations') await revocations()
else if (mode === 'memory-plain') await memory(false)
else if (mode === 'memory-session') await memory(true)
else if (mode === 'memory-stack') await memoryStack()
else if (mode === 'lateness') await lateness()
else await main()
