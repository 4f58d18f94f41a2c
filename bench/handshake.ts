// Handshake cost of auth-handshake against plain @fastify/websocket, a bare fast-jwt hook
// and the do-it-yourself @fastify/jwt hook. Servers run here; the load runs in a child
// process (bench/client.ts). Scenarios are interleaved round by round, and each figure is
// the median over rounds of the server's own CPU time (process.cpuUsage) per handshake; the
// "paired" column is the median of each round's ratio to the bare hook. The client is pinned
// to one core and this process to the other, and a batch is read once the sockets it opened
// have closed (so one scenario's closes are not counted in the next).
import './built.js'
import type { ChildProcess } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { generateKey, jwks, claimsFor, mintToken, type TestKey } from '@wsguard/testing'
import { authHandshake } from '@wsguard/auth-handshake'
import type { TokenSpec } from './client.js'
import { measure, median, pin, socketTracker, startClient, type Measured } from './lib.js'
import { AUD, FEED_PATH, ISS, stackApp, type Stack } from './stack-app.js'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const COUNT = Number(process.env.COUNT ?? 1500)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)

const es = generateKey('ES256')
const rs = generateKey('RS256')
const ed = generateKey('EdDSA')
const esKey = { alg: 'ES256' as const, pem: es.publicKey.export({ type: 'spki', format: 'pem' }) as string, jwks: jwks(es) }

// Open sockets over every server here: a batch is read once they have all closed.
const sockets = socketTracker()

function tracked (app: FastifyInstance): string {
  sockets.track(app)
  return `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}${FEED_PATH}`
}

/** stack-app's plain @fastify/websocket, bare fast-jwt hook (the cheapest authenticated handshake) or DIY @fastify/jwt hook, trusting ES256. */
async function peerServer (stack: Extract<Stack, 'plain' | 'bare' | 'diy'>): Promise<string> {
  return tracked(await stackApp(stack, 'off', esKey))
}

/** auth-handshake alone, trusting three algorithms, with no route rules. */
async function wsguardServer (): Promise<string> {
  const app = Fastify()
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256', 'RS256', 'EdDSA'], jwks: jwks(es, rs, ed) } })
  app.get('/feed/:tenant', { websocket: true }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  return tracked(app)
}

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), scope: 'feed:read', ...extra })
const fresh = (key: TestKey, extra?: Record<string, unknown>): TokenSpec => ({ kind: 'fresh', key: { alg: key.alg, kid: key.kid, privateJwk: key.privateJwk }, claims: claims(extra) })
const fixed = (token: string): TokenSpec => ({ kind: 'fixed', token })

interface Scenario { name: string, url: string, tokens: TokenSpec, expect: 'open' | 'reject' }

function run (child: ChildProcess, s: Scenario): Promise<Measured> {
  return measure(child, { url: s.url, count: COUNT, concurrency: CONCURRENCY, carrier: 'header', tokens: s.tokens, expect: s.expect, timeoutMs: 60_000 }, sockets.settle)
}

async function main (): Promise<void> {
  const [plain, bare, diy, guard] = await Promise.all([peerServer('plain'), peerServer('bare'), peerServer('diy'), wsguardServer()])
  const expired = mintToken(es, claims({ exp: Math.floor(Date.now() / 1000) - 60 }))
  const foreign = mintToken(es, claims({ iss: 'https://elsewhere.test' }))
  const wrongAud = mintToken(es, claims({ aud: 'other-api' }))
  const repeated = mintToken(es, claims())
  const scenarios: Scenario[] = [
    { name: 'plain @fastify/websocket (accept)', url: plain, tokens: fresh(es), expect: 'open' },
    { name: 'bare fast-jwt hook, ES256 (accept)', url: bare, tokens: fresh(es), expect: 'open' },
    { name: 'DIY @fastify/jwt hook, ES256 (accept)', url: diy, tokens: fresh(es), expect: 'open' },
    { name: 'wsguard ES256 (accept)', url: guard, tokens: fresh(es), expect: 'open' },
    { name: 'wsguard RS256 (accept)', url: guard, tokens: fresh(rs), expect: 'open' },
    { name: 'wsguard EdDSA (accept)', url: guard, tokens: fresh(ed), expect: 'open' },
    { name: 'DIY @fastify/jwt, repeated token', url: diy, tokens: fixed(repeated), expect: 'open' },
    { name: 'wsguard, repeated token', url: guard, tokens: fixed(repeated), expect: 'open' },
    { name: 'DIY reject expired', url: diy, tokens: fixed(expired), expect: 'reject' },
    { name: 'wsguard reject expired', url: guard, tokens: fixed(expired), expect: 'reject' },
    { name: 'DIY reject malformed', url: diy, tokens: fixed('not.a.jwt'), expect: 'reject' },
    { name: 'wsguard reject malformed', url: guard, tokens: fixed('not.a.jwt'), expect: 'reject' },
    { name: 'DIY reject unknown issuer', url: diy, tokens: fixed(foreign), expect: 'reject' },
    { name: 'wsguard reject unknown issuer', url: guard, tokens: fixed(foreign), expect: 'reject' },
    { name: 'DIY reject wrong audience', url: diy, tokens: fixed(wrongAud), expect: 'reject' },
    { name: 'wsguard reject wrong audience', url: guard, tokens: fixed(wrongAud), expect: 'reject' }
  ]
  const child = startClient()
  const pinned = pin(child.pid, 0) && pin(process.pid, 1)
  const samples = new Map<string, Measured[]>()
  // Warm-up round, not recorded: JIT, key imports, connection pools.
  for (const s of scenarios) await run(child, s)
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of scenarios) {
      const m = await run(child, s)
      samples.set(s.name, [...(samples.get(s.name) ?? []), m])
    }
    process.stderr.write(`round ${r + 1}/${ROUNDS}\n`)
  }
  child.disconnect()
  const bareRuns = samples.get(scenarios[1]!.name) ?? []
  const bareCpu = median(bareRuns.map((m) => m.cpuUs))
  const plainCpu = median((samples.get(scenarios[0]!.name) ?? []).map((m) => m.cpuUs))
  console.log(`\n${ROUNDS} rounds x ${COUNT} handshakes, ${CONCURRENCY} at a time; node ${process.version}; ${pinned ? 'client and servers pinned to separate cores' : 'not pinned'}\n`)
  console.log('| scenario | server CPU µs/handshake (median) | vs bare fast-jwt | vs bare, paired by round | vs plain | handshakes/s (median) | wrong outcomes |')
  console.log('|---|---:|---:|---:|---:|---:|---:|')
  for (const s of scenarios) {
    const ms = samples.get(s.name) ?? []
    const cpu = median(ms.map((m) => m.cpuUs))
    const paired = median(ms.map((m, i) => m.cpuUs / (bareRuns[i] as Measured).cpuUs))
    console.log(`| ${s.name} | ${cpu.toFixed(0)} | ${(cpu / bareCpu).toFixed(2)}x | ${paired.toFixed(2)}x | ${(cpu / plainCpu).toFixed(2)}x | ${median(ms.map((m) => m.rate)).toFixed(0)} | ${ms.reduce((a, m) => a + m.wrong, 0)} |`)
  }
  process.exit(0)
}

await main()
