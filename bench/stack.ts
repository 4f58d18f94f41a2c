// The whole stack's handshake cost (issue 15): all four plugins as users register them,
// against a bare fast-jwt hook and plain @fastify/websocket, with an attribution (each plugin
// added one at a time) and the app's logger off, on (as `Fastify({ logger: true })` sets it
// up), and on with its lines built but not written.
// Each server configuration runs in a process of its own (this file, forked with `serve`):
// diagnostics channels are process-wide, so telemetry in one process would hear every server.
// The load comes from bench/client.ts in another process: a fresh ES256 token per connection.
// Client pinned to core 0, servers to core 1; a batch is read once its sockets have closed;
// each round runs every configuration once (order rotating) and the figure is the median of
// the per-round ratio to the bare hook with the same logging (paired).
import './built.js'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { createVerifier } from 'fast-jwt'
import { Type } from '@sinclair/typebox'
import { generateKey, jwks, claimsFor } from '@wsguard/testing'
import { authHandshake } from '@wsguard/auth-handshake'
import { topicAuthz } from '@wsguard/topic-authz'
import { sessionExpiry } from '@wsguard/session-expiry'
import { telemetry } from '@wsguard/telemetry'
import type { TokenSpec } from './client.js'
import { measure, median, pin, socketTracker, startClient, type Measured } from './lib.js'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const COUNT = Number(process.env.COUNT ?? 1000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)
const ISS = 'https://idp.bench'
const AUD = 'feed-api'

/** What a server process runs: which plugins, and how it logs. */
export type Stack = 'plain' | 'bare' | 'auth' | 'auth+topics' | 'auth+topics+expiry' | 'full' | 'full-no-audit'
export type Logging = 'off' | 'app' | 'built'

interface Config { name: string, stack: Stack, logging: Logging }

const CONFIGS: Config[] = [
  { name: 'plain @fastify/websocket', stack: 'plain', logging: 'off' },
  { name: 'bare fast-jwt hook', stack: 'bare', logging: 'off' },
  { name: 'auth-handshake (JWKS, claims schema, scopes)', stack: 'auth', logging: 'off' },
  { name: '+ topic-authz (handshake topic)', stack: 'auth+topics', logging: 'off' },
  { name: '+ session-expiry', stack: 'auth+topics+expiry', logging: 'off' },
  { name: '+ telemetry = whole stack', stack: 'full', logging: 'off' },
  { name: 'bare fast-jwt hook, logger on', stack: 'bare', logging: 'app' },
  { name: 'whole stack, logger on', stack: 'full', logging: 'app' },
  { name: 'whole stack, logger on, audit off', stack: 'full-no-audit', logging: 'app' },
  { name: 'bare fast-jwt hook, lines built not written', stack: 'bare', logging: 'built' },
  { name: 'whole stack, lines built not written', stack: 'full', logging: 'built' }
]

function logger (logging: Logging): boolean | Record<string, unknown> {
  if (logging === 'off') return false
  // 'app': Fastify's `logger: true` (pino's default destination, stdout, which the parent
  // points at /dev/null). 'built': the same lines made, handed to a stream that drops them.
  if (logging === 'app') return true
  return { level: 'info', stream: { write (_line: string) {} } }
}

async function server (stack: Stack, logging: Logging, keySet: ReturnType<typeof jwks>, pem: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: logger(logging) as never })
  await app.register(websocket)
  if (stack === 'bare') {
    const verify = createVerifier({ key: pem, algorithms: ['ES256'], allowedIss: ISS, allowedAud: AUD })
    app.decorateRequest('user', null as unknown as string)
    app.addHook('onRequest', (request, reply, done) => {
      try {
        (request as unknown as { user: unknown }).user = verify((request.headers.authorization ?? '').slice(7))
        done()
      } catch {
        reply.code(401).send()
      }
    })
  }
  if (stack === 'full' || stack === 'full-no-audit') {
    await app.register(telemetry, {
      audit: stack === 'full',
      anomalies: {
        reconnectStorm: { perIp: { max: 1_000_000, windowMs: 60_000 }, perPrincipal: { max: 1_000_000, windowMs: 60_000 } },
        failureSpike: { ratio: 5, minPerMinute: 1_000_000 },
        longSession: { afterMs: 12 * 3600_000 }
      }
    })
  }
  if (stack !== 'plain' && stack !== 'bare') {
    await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: keySet, claims: Type.Object({ tenant: Type.String() }) } })
  }
  if (stack === 'auth+topics' || stack === 'auth+topics+expiry' || stack === 'full' || stack === 'full-no-audit') {
    await app.register(topicAuthz, { policies: [{ pattern: 'prices.{tenant}.>', actions: ['subscribe'], scopes: ['feed:read'], where: { tenant: 'claims.tenant' } }] })
  }
  if (stack === 'auth+topics+expiry' || stack === 'full' || stack === 'full-no-audit') {
    await app.register(sessionExpiry, { noticeMs: 60_000, graceMs: 5_000, maxLifetimeMs: 8 * 3600_000, idleTimeoutMs: 300_000, heartbeatMs: 30_000, refresh: true })
  }
  const governed = stack !== 'plain' && stack !== 'bare'
  app.get('/feed/:tenant', {
    websocket: true,
    config: governed
      ? { auth: { scopes: ['feed:read'] }, ...(stack === 'auth' ? {} : { handshakeTopic: { action: 'subscribe', topic: 'prices.{params.tenant}.all' } }) }
      : {}
  }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

interface Served { url: string, pid: number | undefined, cpu: () => Promise<NodeJS.CpuUsage>, kill: () => Promise<void> }

function serve (config: Config, keySet: ReturnType<typeof jwks>, pem: string): Promise<Served> {
  const prof = process.env.PROFILE_DIR !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}/${config.stack}-${config.logging}`] : []
  const proc = fork(fileURLToPath(import.meta.url), ['serve', config.stack, config.logging], {
    execArgv: ['--import', 'tsx', ...prof],
    env: { ...process.env, BENCH_JWKS: JSON.stringify(keySet), BENCH_PEM: pem },
    // the logger's stdout goes to /dev/null
    stdio: ['ignore', 'ignore', 'inherit', 'ipc']
  })
  const ask = <T>(type: string): Promise<T> => new Promise((resolve) => {
    const on = (m: { type: string, value: T }): void => { if (m.type === type) { proc.off('message', on); resolve(m.value) } }
    proc.on('message', on)
    proc.send({ type })
  })
  return new Promise((resolve) => {
    proc.once('message', (m: { url: string }) => resolve({ url: m.url, pid: proc.pid, cpu: () => ask('cpu'), kill: () => new Promise<void>((resolve) => { proc.once('exit', () => resolve()); proc.kill('SIGINT') }) }))
  })
}

async function serverProcess (stack: Stack, logging: Logging): Promise<void> {
  const app = await server(stack, logging, JSON.parse(process.env.BENCH_JWKS as string) as ReturnType<typeof jwks>, process.env.BENCH_PEM as string)
  const sockets = socketTracker()
  sockets.track(app)
  process.on('message', (m: { type: string }) => {
    if (m.type === 'cpu') sockets.settle().then(() => process.send?.({ type: m.type, value: process.cpuUsage() }))
  })
  process.on('SIGINT', () => process.exit(0)) // exits cleanly, so --cpu-prof writes its profile
  process.send?.({ url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed/acme` })
}

async function main (): Promise<void> {
  const es = generateKey('ES256')
  const keySet = jwks(es)
  const pem = es.publicKey.export({ type: 'spki', format: 'pem' }) as string
  // ONLY=<comma-separated stacks> narrows the run (e.g. for a profile); the bare hook always runs.
  const only = process.env.ONLY?.split(',')
  const chosen = CONFIGS.filter((c) => only === undefined || c.stack === 'bare' || only.includes(c.stack))
  const servers = new Map<Config, Served>()
  for (const c of chosen) servers.set(c, await serve(c, keySet, pem))
  const child = startClient()
  const pinned = [child.pid, ...[...servers.values()].map((s) => s.pid)].every((pid, i) => pin(pid, i === 0 ? 0 : 1))
  const tokens: TokenSpec = { kind: 'fresh', key: { alg: es.alg, kid: es.kid, privateJwk: es.privateJwk }, claims: { ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), scope: 'feed:read', tenant: 'acme' } }
  const run = async (c: Config): Promise<Measured> => {
    const srv = servers.get(c) as Served
    const before = await srv.cpu()
    const m = await measure(child, { url: srv.url, count: COUNT, concurrency: CONCURRENCY, carrier: 'header', tokens, expect: 'open', timeoutMs: 60_000 })
    const after = await srv.cpu()
    return { ...m, cpuUs: (after.user + after.system - before.user - before.system) / COUNT }
  }
  const samples = new Map<Config, Measured[]>()
  for (const c of chosen) await run(c) // warm-up, not recorded
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < chosen.length; k++) {
      const c = chosen[(r + k) % chosen.length] as Config
      samples.set(c, [...(samples.get(c) ?? []), await run(c)])
    }
    process.stderr.write(`round ${r + 1}/${ROUNDS}\n`)
  }
  child.disconnect()
  await Promise.all([...servers.values()].map((s) => s.kill()))
  const base = (logging: Logging): Measured[] => samples.get(chosen.find((c) => c.stack === 'bare' && c.logging === logging) as Config) ?? []
  console.log(`\n${ROUNDS} rounds x ${COUNT} accepted handshakes, ${CONCURRENCY} at a time, fresh ES256 token each; node ${process.version}; ${pinned ? 'client and servers pinned to separate cores' : 'not pinned'}\n`)
  console.log('| server | server CPU µs/handshake (median) | vs bare hook, same logging (paired) | handshakes/s (median) | wrong outcomes |')
  console.log('|---|---:|---:|---:|---:|')
  for (const c of chosen) {
    const ms = samples.get(c) ?? []
    const b = base(c.logging)
    const paired = b.length === ms.length ? `${median(ms.map((m, i) => m.cpuUs / (b[i] as Measured).cpuUs)).toFixed(2)}x` : '–'
    console.log(`| ${c.name} | ${median(ms.map((m) => m.cpuUs)).toFixed(0)} | ${paired} | ${median(ms.map((m) => m.rate)).toFixed(0)} | ${ms.reduce((a, m) => a + m.wrong, 0)} |`)
  }
  process.exit(0)
}

if (process.argv[2] === 'serve') await serverProcess(process.argv[3] as Stack, process.argv[4] as Logging)
else await main()
