// Topic authorization benchmarks (pnpm bench).
// 1. Decisions per second with 10, 1,000 and 10,000 rules, through app.topicAuthz.authorize
//    (no decision cache), interleaved round by round; median over rounds.
// 2. Frames per second through a websocket handler that parses each frame and authorizes it,
//    against one that only parses it; the load comes from a forked client, and "server CPU"
//    is process.cpuUsage() of this process across the batch divided by the frames.
import './built.js'
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import type { Principal } from '@wsguard/core'
import { topicAuthz, type TopicRule } from '@wsguard/topic-authz'
import type { MessageBatch, MessageResult } from './topics-client.js'

const ROUNDS = Number(process.env.ROUNDS ?? 9)
const DECISIONS = Number(process.env.DECISIONS ?? 200_000)
const FRAMES = Number(process.env.FRAMES ?? 200_000)

const principal: Principal = Object.freeze({
  id: 'alice',
  kind: 'user',
  method: 'jwt',
  issuer: 'https://idp.test',
  scopes: Object.freeze(['orders:read', 'orders:write']),
  sessionId: 's1',
  claims: Object.freeze({ sub: 'alice', tenant: 'acme', desks: Object.freeze(['d1', 'd2']) })
})

// A deterministic PRNG, so every run asks the same questions.
function prng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

/** n rules in three shapes (bound capture, wildcard, predicate), and topics that hit them. */
function workload (n: number): { rules: TopicRule[], topics: string[] } {
  const rules: TopicRule[] = []
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) rules.push({ pattern: `t${i}.orders.{tenant}.>`, actions: ['subscribe'], scopes: ['orders:read'], where: { tenant: 'claims.tenant' } })
    else if (i % 3 === 1) rules.push({ pattern: `t${i}.feed.*.quotes`, actions: ['subscribe'] })
    else rules.push({ pattern: `t${i}.desk.{desk}`, actions: ['subscribe', 'publish'], where: (p, c) => (p.claims.desks as string[]).includes(c.desk as string) })
  }
  const random = prng(42)
  const topics: string[] = []
  for (let k = 0; k < 1024; k++) {
    const i = Math.floor(random() * n)
    const deny = random() < 0.25
    if (i % 3 === 0) topics.push(`t${i}.orders.${deny ? 'globex' : 'acme'}.eu.open`)
    else if (i % 3 === 1) topics.push(deny ? `t${i}.feed.x.trades` : `t${i}.feed.x.quotes`)
    else topics.push(`t${i}.desk.${deny ? 'd9' : 'd1'}`)
  }
  return { rules, topics }
}

async function decisionApp (rules: TopicRule[]): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(websocket)
  await app.register(topicAuthz, { policies: rules })
  await app.ready()
  return app
}

function decisionsPerSecond (app: FastifyInstance, topics: string[]): { rate: number, allowed: number } {
  let allowed = 0
  const started = performance.now()
  for (let k = 0; k < DECISIONS; k++) {
    if (app.topicAuthz.authorize(principal, 'subscribe', topics[k & 1023] as string).allow) allowed++
  }
  return { rate: DECISIONS / ((performance.now() - started) / 1000), allowed }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] as number }

async function decisions (): Promise<void> {
  const sizes = [10, 1_000, 10_000]
  const cases = []
  for (const n of sizes) {
    const { rules, topics } = workload(n)
    const compileStarted = performance.now()
    const app = await decisionApp(rules)
    cases.push({ n, app, topics, compileMs: performance.now() - compileStarted, rates: [] as number[], allowed: 0 })
  }
  for (const c of cases) decisionsPerSecond(c.app, c.topics) // warm-up, not recorded
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) {
      const m = decisionsPerSecond(c.app, c.topics)
      c.rates.push(m.rate)
      c.allowed = m.allowed
    }
  }
  const base = median((cases[0] as typeof cases[0]).rates)
  console.log(`\n## Decisions, ${ROUNDS} rounds × ${DECISIONS} (no cache)\n`)
  console.log('| rules | decisions/s (median) | ns/decision | time vs 10 rules | allowed | register (ms) |')
  console.log('|---:|---:|---:|---:|---:|---:|')
  for (const c of cases) {
    const rate = median(c.rates)
    console.log(`| ${c.n} | ${rate.toFixed(0)} | ${(1e9 / rate).toFixed(0)} | ${(base / rate).toFixed(2)}x | ${(100 * c.allowed / DECISIONS).toFixed(0)}% | ${c.compileMs.toFixed(0)} |`)
    await c.app.close()
  }
}

const orderRules: TopicRule[] = [
  { pattern: 'orders.{tenant}.>', actions: ['subscribe'], scopes: ['orders:read'], where: { tenant: 'claims.tenant' } },
  { pattern: 'orders.{tenant}.*.cancel', actions: ['publish'], scopes: ['orders:write'], where: { tenant: 'claims.tenant' } },
  { pattern: 'status.>', actions: ['subscribe'] }
]

const captured: { cached?: FastifyRequest, uncached?: FastifyRequest } = {}

/** Three routes over one server: the handler only parses, or parses and authorizes (cache on / off). */
async function messageServer (): Promise<{ app: FastifyInstance, base: string }> {
  const app = Fastify()
  await app.register(websocket)
  await app.register(async (scope) => {
    await scope.register(topicAuthz, { policies: orderRules })
    scope.decorateRequest('principal', null as unknown as Principal)
    scope.addHook('onRequest', async (req) => { req.principal = principal })
    scope.get('/plain', { websocket: true }, (socket) => {
      let seen = 0
      socket.on('message', (raw) => {
        const msg = JSON.parse(String(raw)) as { action: string, topic: string, last?: true }
        if (typeof msg.topic === 'string') seen++
        if (msg.last === true) socket.send(String(seen))
      })
    })
    scope.get('/authorize', { websocket: true }, (socket, req) => {
      captured.cached = req
      let allowed = 0
      socket.on('message', (raw) => {
        const msg = JSON.parse(String(raw)) as { action: string, topic: string, last?: true }
        if (req.authorizeTopic(msg.action, msg.topic).allow) allowed++
        if (msg.last === true) socket.send(String(allowed))
      })
    })
  })
  await app.register(async (scope) => {
    await scope.register(topicAuthz, { policies: orderRules, decisionCacheSize: 0 })
    scope.decorateRequest('principal', null as unknown as Principal)
    scope.addHook('onRequest', async (req) => { req.principal = principal })
    scope.get('/authorize-uncached', { websocket: true }, (socket, req) => {
      captured.uncached = req
      let allowed = 0
      socket.on('message', (raw) => {
        const msg = JSON.parse(String(raw)) as { action: string, topic: string, last?: true }
        if (req.authorizeTopic(msg.action, msg.topic).allow) allowed++
        if (msg.last === true) socket.send(String(allowed))
      })
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

function send (child: ChildProcess, batch: MessageBatch): Promise<MessageResult> {
  return new Promise((resolve, reject) => {
    child.once('message', (m: MessageResult & { error?: string }) => (m.error !== undefined ? reject(new Error(m.error)) : resolve(m)))
    child.send(batch)
  })
}

async function messages (): Promise<void> {
  const { app, base } = await messageServer()
  const topics = ['orders.acme.eu.open', 'orders.acme.us.open', 'orders.acme.eu.fills', 'status.up', 'orders.globex.eu.open', 'orders.acme.apac.open', 'status.latency.p99', 'orders.acme.eu.o1.cancel']
  const frames = topics.map((topic, i) => JSON.stringify({ action: i === 7 ? 'publish' : 'subscribe', topic }))
  const lastFrame = JSON.stringify({ action: 'subscribe', topic: 'status.up', last: true })
  const child = fork(fileURLToPath(new URL('./topics-client.ts', import.meta.url)), { execArgv: ['--import', 'tsx'] })
  const routes = ['/plain', '/authorize', '/authorize-uncached']
  const samples = new Map<string, Array<{ cpuUs: number, rate: number }>>()
  const measure = async (route: string): Promise<{ cpuUs: number, rate: number }> => {
    const before = process.cpuUsage()
    const r = await send(child, { url: base + route, count: FRAMES, frames, lastFrame, timeoutMs: 60_000 })
    const cpu = process.cpuUsage(before)
    if (r.timedOut) throw new Error(`${route}: timed out after ${r.sent} frames`)
    return { cpuUs: (cpu.user + cpu.system) / FRAMES, rate: FRAMES / (r.elapsedMs / 1000) }
  }
  for (const route of routes) await measure(route) // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round: the first batch after a switch measured differently.
    for (let k = 0; k < routes.length; k++) {
      const route = routes[(r + k) % routes.length] as string
      samples.set(route, [...(samples.get(route) ?? []), await measure(route)])
    }
  }
  child.disconnect()
  const inProcess = perFrame(frames)
  await app.close()
  const plainCpu = median((samples.get('/plain') ?? []).map((m) => m.cpuUs))
  const plainRate = median((samples.get('/plain') ?? []).map((m) => m.rate))
  console.log(`\n## Frames through a handler, ${ROUNDS} rounds × ${FRAMES} frames, one socket\n`)
  console.log('| handler | server CPU µs/frame (median) | vs parse only | frames/s (median) | vs parse only |')
  console.log('|---|---:|---:|---:|---:|')
  for (const route of routes) {
    const ms = samples.get(route) ?? []
    const cpu = median(ms.map((m) => m.cpuUs))
    const rate = median(ms.map((m) => m.rate))
    console.log(`| ${route} | ${cpu.toFixed(2)} | ${(cpu / plainCpu).toFixed(3)}x | ${rate.toFixed(0)} | ${(rate / plainRate).toFixed(3)}x |`)
  }
  console.log(`\n## The same frames in-process, on the requests of those sockets, ${ROUNDS} rounds × ${DECISIONS}\n`)
  console.log('| per frame | ns (median) |')
  console.log('|---|---:|')
  for (const [name, ns] of Object.entries(inProcess)) console.log(`| ${name} | ${median(ns).toFixed(0)} |`)
}

/** JSON.parse alone, then with request.authorizeTopic (cache on / off), on the sockets' own requests. */
function perFrame (frames: string[]): Record<string, number[]> {
  const cached = captured.cached as FastifyRequest
  const uncached = captured.uncached as FastifyRequest
  const out: Record<string, number[]> = { 'JSON.parse': [], 'JSON.parse + authorizeTopic (cached)': [], 'JSON.parse + authorizeTopic (cache off)': [] }
  const n = frames.length
  let sink = 0
  const time = (fn: (frame: string) => void): number => {
    const started = performance.now()
    for (let k = 0; k < DECISIONS; k++) fn(frames[k % n] as string)
    return (performance.now() - started) * 1e6 / DECISIONS
  }
  const parse = (f: string): void => { const m = JSON.parse(f) as { topic: string }; sink += m.topic.length }
  const withCache = (f: string): void => { const m = JSON.parse(f) as { action: string, topic: string }; if (cached.authorizeTopic(m.action, m.topic).allow) sink++ }
  const noCache = (f: string): void => { const m = JSON.parse(f) as { action: string, topic: string }; if (uncached.authorizeTopic(m.action, m.topic).allow) sink++ }
  for (let r = 0; r <= ROUNDS; r++) {
    const a = time(parse)
    const b = time(withCache)
    const c = time(noCache)
    if (r === 0) continue // warm-up
    out['JSON.parse']?.push(a)
    out['JSON.parse + authorizeTopic (cached)']?.push(b)
    out['JSON.parse + authorizeTopic (cache off)']?.push(c)
  }
  if (sink === 0) throw new Error('nothing was decided')
  return out
}

await decisions()
await messages()
