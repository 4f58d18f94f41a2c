// wsguard against the alternatives, side by side, in one run (issue 15; `pnpm bench:peers`).
// Peers (bench/peer-servers.ts): plain @fastify/websocket (no auth), the bare fast-jwt hook, the
// DIY @fastify/jwt hook, Socket.IO with an io.use middleware (jsonwebtoken; fast-jwt), graphql-ws
// with onConnect and jose, and wsguard's whole stack (all four plugins, bench/stack-app.ts).
// Each peer and algorithm runs in a server process of its own; the load comes from
// bench/client.ts in another; the client is pinned to core 0 and the servers to core 1.
//   handshakes  accepted handshakes (ES256, RS256; a fresh token per connection) and refusals
//               (garbage, expired, wrong audience; fresh per connection too), every scenario once
//               per round in a rotating order after an unrecorded warm-up round. Server CPU per
//               handshake is the server process's, read once the batch's sockets have closed; the
//               figures are medians over rounds, the ratios the median of each round's ratio to
//               the bare hook in the same scenario (paired).
//   memory      per peer, in a fresh server process (--expose-gc): a warm-up batch, heap and RSS
//               after two gc(), MEM_CONNECTIONS idle authenticated connections held open, heap
//               and RSS again; the difference per connection, median over MEM_RUNS processes.
// A connection counts as wrong when it ends otherwise than expected (an accept where a refusal
// was due is a harness bug, not a result); the outcomes are printed by label.
// Writes bench/peers.svg and prints markdown tables.
import './built.js'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { TestKey } from '@wsguard/testing'
import type { ChildProcess } from 'node:child_process'
import type { Batch, TokenSpec } from './client.js'
import {
  answerParent, forkServer, hold, machineLine, measureOn, median, memoryAfterGc, openFilesLimit,
  packageVersions, pairedMedian, pin, release, socketTracker, startClient, type Measured, type Served
} from './lib.js'
import { PEERS, startPeer, type Peer, type PeerId } from './peer-servers.js'
import { chartSvg, type Panel } from './peers-chart.js'
import { AUD, ISS, type TrustedKey } from './stack-app.js'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const COUNT = Number(process.env.COUNT ?? 1000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)
const MEM_CONNECTIONS = Number(process.env.MEM_CONNECTIONS ?? 10_000)
const MEM_RUNS = Number(process.env.MEM_RUNS ?? 3)
const MEM_WARMUP = 200
const PARTS = (process.env.PARTS ?? 'handshakes,memory').split(',')
// PEERS=<comma-separated ids> narrows the run; the bare hook (the baseline) always runs.
const ONLY = process.env.PEERS?.split(',')
const SVG_FILE = fileURLToPath(new URL('./peers.svg', import.meta.url))

type Alg = 'ES256' | 'RS256'
type Kind = 'accept' | 'garbage' | 'expired' | 'wrong-aud'
interface Scenario { peer: Peer, kind: Kind, alg: Alg }

const GROUPS: Array<{ kind: Kind, alg: Alg, title: string }> = [
  { kind: 'accept', alg: 'ES256', title: 'accepted, ES256' },
  { kind: 'accept', alg: 'RS256', title: 'accepted, RS256' },
  { kind: 'garbage', alg: 'ES256', title: 'refused: garbage token' },
  { kind: 'expired', alg: 'ES256', title: 'refused: expired token' },
  { kind: 'wrong-aud', alg: 'ES256', title: 'refused: wrong audience' }
]

const COLORS: Record<PeerId, string> = {
  plain: '#bbbbbb',
  bare: '#7f7f7f',
  diy: '#9467bd',
  'sio-jsonwebtoken': '#d62728',
  'sio-fast-jwt': '#ff9896',
  'graphql-ws-jose': '#e377c2',
  wsguard: '#1f77b4'
}

const chosen = PEERS.filter((p) => ONLY === undefined || p.id === 'bare' || ONLY.includes(p.id))
const bareOf = PEERS.find((p) => p.id === 'bare') as Peer

// The server processes (this file, forked) do not load @wsguard/testing (and oidc-provider with it):
// main() imports it when it runs, and claimsFor lives here.
const claimsFor = (iss: string, aud: string, sub: string, nowMs: number, ttlSeconds: number): Record<string, unknown> => {
  const iat = Math.floor(nowMs / 1000)
  return { iss, aud, sub, iat, exp: iat + ttlSeconds }
}

function tokensFor (kind: Kind, key: TestKey): TokenSpec {
  const signer = { alg: key.alg, kid: key.kid, privateJwk: key.privateJwk }
  const base = { scope: 'feed:read', tenant: 'acme' }
  if (kind === 'garbage') return { kind: 'garbage' }
  // Expired an hour ago; otherwise valid for an hour from the batch.
  if (kind === 'expired') return { kind: 'fresh', key: signer, claims: { ...claimsFor(ISS, AUD, 'alice', Date.now() - 2 * 3600_000, 3600), ...base } }
  if (kind === 'wrong-aud') return { kind: 'fresh', key: signer, claims: { ...claimsFor(ISS, 'other-api', 'alice', Date.now(), 3600), ...base } }
  return { kind: 'fresh', key: signer, claims: { ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), ...base } }
}

function batchFor (peer: Peer, srv: Served, kind: Kind, key: TestKey, count: number, timeoutMs = 60_000): Batch {
  return { url: srv.url, count, concurrency: CONCURRENCY, carrier: 'header', protocol: peer.protocol, tokens: tokensFor(kind, key), expect: kind === 'accept' ? 'open' : 'reject', timeoutMs }
}

function servePeer (id: PeerId, alg: Alg, keys: Record<Alg, TrustedKey>, execArgv: string[] = []): Promise<Served> {
  return forkServer(fileURLToPath(import.meta.url), ['serve', id], { execArgv, env: { BENCH_KEY: JSON.stringify(keys[alg]) } })
}

async function serverProcess (id: PeerId): Promise<void> {
  const { url, connections } = await startPeer(id, JSON.parse(process.env.BENCH_KEY as string) as TrustedKey)
  const sockets = socketTracker()
  sockets.track(connections)
  answerParent(url, sockets, { mem: () => ({ ...memoryAfterGc(), open: sockets.open() }) })
}

const outcomesText = (o: Record<string, number>): string => Object.entries(o).map(([label, n]) => `${label} ×${n}`).join(', ')
const seconds = (since: number): string => `${((performance.now() - since) / 1000).toFixed(0)} s`

interface HandshakeResults { scenarios: Scenario[], samples: Map<Scenario, Measured[]> }

async function handshakes (signing: Record<Alg, TestKey>, keys: Record<Alg, TrustedKey>): Promise<HandshakeResults> {
  const scenarios: Scenario[] = []
  for (const g of GROUPS) {
    for (const peer of chosen) {
      // plain checks nothing: one accepted row, no refusals (it accepts every token).
      if (peer.authenticates || (g.kind === 'accept' && g.alg === 'ES256')) scenarios.push({ peer, kind: g.kind, alg: g.alg })
    }
  }
  const starting = performance.now()
  const wanted = [...new Map(scenarios.map((s) => [`${s.peer.id}/${s.alg}`, s])).entries()]
  const servers = new Map(await Promise.all(wanted.map(async ([k, s]) => [k, await servePeer(s.peer.id, s.alg, keys)] as const)))
  process.stderr.write(`${servers.size} server processes listening: ${seconds(starting)}\n`)
  const child = startClient()
  const pinned = [child.pid, ...[...servers.values()].map((s) => s.pid)].every((pid, i) => pin(pid, i === 0 ? 0 : 1))
  const run = (s: Scenario): Promise<Measured> => {
    const srv = servers.get(`${s.peer.id}/${s.alg}`) as Served
    return measureOn(child, srv, batchFor(s.peer, srv, s.kind, signing[s.alg], COUNT))
  }
  const samples = new Map<Scenario, Measured[]>()
  const started = performance.now()
  for (const s of scenarios) await run(s) // warm-up, not recorded
  process.stderr.write(`warm-up round: ${seconds(started)}\n`)
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < scenarios.length; k++) {
      const s = scenarios[(r + k) % scenarios.length] as Scenario
      samples.set(s, [...(samples.get(s) ?? []), await run(s)])
    }
    process.stderr.write(`round ${r + 1}/${ROUNDS}: ${seconds(started)}\n`)
  }
  child.disconnect()
  await Promise.all([...servers.values()].map((s) => s.kill()))
  console.log(`\n## Handshakes: ${ROUNDS} rounds × ${COUNT} per scenario, ${CONCURRENCY} at a time, ${scenarios.length} scenarios, ${servers.size} server processes; ${pinned ? 'client on core 0, servers on core 1' : 'NOT pinned'}; ${seconds(started)}\n`)
  console.log('| scenario | peer | server CPU µs/handshake | CPU vs bare hook (paired) | handshakes/s | rate vs bare hook (paired) | client core busy | wrong | outcomes (all rounds) |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---|')
  for (const g of GROUPS) {
    const base = samples.get(scenarios.find((s) => s.peer === bareOf && s.kind === g.kind && s.alg === g.alg) as Scenario) ?? []
    for (const s of scenarios.filter((x) => x.kind === g.kind && x.alg === g.alg)) {
      const ms = samples.get(s) ?? []
      const outcomes: Record<string, number> = {}
      for (const m of ms) for (const [label, n] of Object.entries(m.outcomes)) outcomes[label] = (outcomes[label] ?? 0) + n
      console.log(`| ${g.title} | ${s.peer.name} | ${median(ms.map((m) => m.cpuUs)).toFixed(0)} | ${pairedMedian(ms, base, 'cpuUs').toFixed(2)}× | ${median(ms.map((m) => m.rate)).toFixed(0)} | ${pairedMedian(ms, base, 'rate').toFixed(2)}× | ${(median(ms.map((m) => m.clientBusy)) * 100).toFixed(0)}% | ${ms.reduce((a, m) => a + m.wrong, 0)} | ${outcomesText(outcomes)} |`)
    }
  }
  return { scenarios, samples }
}

interface MemorySample { heap: number, rss: number, held: number, open: number, wrong: number, outcomes: Record<string, number> }

async function memoryOnce (peer: Peer, signing: Record<Alg, TestKey>, keys: Record<Alg, TrustedKey>): Promise<MemorySample> {
  const srv = await servePeer(peer.id, 'ES256', keys, ['--expose-gc'])
  const child: ChildProcess = startClient()
  pin(child.pid, 0)
  pin(srv.pid, 1)
  try {
    // Warm-up: compile, import keys, fill lazy caches; not counted.
    await measureOn(child, srv, batchFor(peer, srv, 'accept', signing.ES256, MEM_WARMUP))
    const before = await srv.ask<{ heapUsed: number, rss: number }>('mem')
    const held = await hold(child, batchFor(peer, srv, 'accept', signing.ES256, MEM_CONNECTIONS, 300_000))
    const after = await srv.ask<{ heapUsed: number, rss: number, open: number }>('mem')
    await release(child)
    const n = Math.max(1, held.held)
    return { heap: (after.heapUsed - before.heapUsed) / n, rss: (after.rss - before.rss) / n, held: held.held, open: after.open, wrong: held.wrong, outcomes: held.outcomes }
  } finally {
    child.disconnect()
    await srv.kill()
  }
}

async function memory (signing: Record<Alg, TestKey>, keys: Record<Alg, TrustedKey>): Promise<Map<Peer, MemorySample[]>> {
  const started = performance.now()
  const samples = new Map<Peer, MemorySample[]>()
  for (let r = 0; r < MEM_RUNS; r++) {
    for (let k = 0; k < chosen.length; k++) {
      const peer = chosen[(r + k) % chosen.length] as Peer
      samples.set(peer, [...(samples.get(peer) ?? []), await memoryOnce(peer, signing, keys)])
    }
    process.stderr.write(`memory run ${r + 1}/${MEM_RUNS}: ${seconds(started)}\n`)
  }
  console.log(`\n## Memory: ${MEM_CONNECTIONS} idle authenticated connections (ES256) per peer, median of ${MEM_RUNS} server processes; ${seconds(started)}\n`)
  console.log('| peer | heap KiB/connection | RSS KiB/connection | heap vs bare hook | held (client) | open (server) | wrong | outcomes |')
  console.log('|---|---:|---:|---:|---:|---:|---:|---|')
  const bareHeap = median((samples.get(bareOf) ?? []).map((m) => m.heap))
  for (const peer of chosen) {
    const ms = samples.get(peer) ?? []
    const heap = median(ms.map((m) => m.heap))
    const outcomes: Record<string, number> = {}
    for (const m of ms) for (const [label, n] of Object.entries(m.outcomes)) outcomes[label] = (outcomes[label] ?? 0) + n
    console.log(`| ${peer.name} | ${(heap / 1024).toFixed(2)} | ${(median(ms.map((m) => m.rss)) / 1024).toFixed(2)} | ${(heap / bareHeap).toFixed(2)}× | ${ms.map((m) => m.held).join(' / ')} | ${ms.map((m) => m.open).join(' / ')} | ${ms.reduce((a, m) => a + m.wrong, 0)} | ${outcomesText(outcomes)} |`)
  }
  return samples
}

function chart (smallPrint: string[], hs: HandshakeResults | undefined, mem: Map<Peer, MemorySample[]> | undefined): void {
  const panels: Panel[] = []
  if (hs !== undefined) {
    for (const g of GROUPS) {
      const group = hs.scenarios.filter((s) => s.kind === g.kind && s.alg === g.alg)
      const base = hs.samples.get(group.find((s) => s.peer === bareOf) as Scenario) ?? []
      panels.push({
        title: `Server CPU per handshake, ${g.title}`,
        unit: 'µs',
        bars: group.map((s) => {
          const ms = hs.samples.get(s) ?? []
          return { label: s.peer.name, value: median(ms.map((m) => m.cpuUs)), note: `(${pairedMedian(ms, base, 'cpuUs').toFixed(2)}× bare, ${median(ms.map((m) => m.rate)).toFixed(0)}/s)`, color: COLORS[s.peer.id] }
        })
      })
    }
  }
  if (mem !== undefined) {
    const bareHeap = median((mem.get(bareOf) ?? []).map((m) => m.heap))
    panels.push({
      title: `Heap per idle authenticated connection, ${MEM_CONNECTIONS} connections`,
      unit: 'KiB',
      bars: chosen.map((peer) => {
        const heap = median((mem.get(peer) ?? []).map((m) => m.heap))
        return { label: peer.name, value: heap / 1024, note: `(${(heap / bareHeap).toFixed(2)}× bare; RSS ${(median((mem.get(peer) ?? []).map((m) => m.rss)) / 1024).toFixed(1)} KiB)`, color: COLORS[peer.id] }
      })
    })
  }
  writeFileSync(SVG_FILE, chartSvg('wsguard against the alternatives (bench/peers.ts)', smallPrint, panels))
  console.log(`\nchart: ${SVG_FILE}`)
}

function commit (): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== ''
    return `${head}${dirty ? ' (with uncommitted changes)' : ''}`
  } catch {
    return 'unknown'
  }
}

async function main (): Promise<void> {
  const unknown = PARTS.filter((p) => p !== 'handshakes' && p !== 'memory')
  if (unknown.length > 0) {
    console.error(`peers: PARTS takes handshakes and/or memory, not ${unknown.join(', ')}`)
    process.exit(1)
  }
  if (PARTS.includes('memory')) {
    // Each side of MEM_CONNECTIONS loopback sockets needs that many descriptors, plus some. Node
    // raises its soft limit to the hard limit when it starts, so this reads the hard limit.
    const limit = openFilesLimit()
    if (!(limit >= MEM_CONNECTIONS + 1024)) {
      console.error(`peers: ${MEM_CONNECTIONS} connections need an open-files limit of at least ${MEM_CONNECTIONS + 1024} per process; this process has ${limit} (Node raised its soft limit to the hard limit). Raise the hard limit (\`ulimit -Hn\`, as root) or lower MEM_CONNECTIONS.`)
      process.exit(1)
    }
  }
  const { generateKey, jwks } = await import('@wsguard/testing')
  const es = generateKey('ES256')
  const rs = generateKey('RS256')
  const trusted = (k: TestKey): TrustedKey => ({ alg: k.alg as Alg, pem: k.publicKey.export({ type: 'spki', format: 'pem' }) as string, jwks: jwks(k) })
  const signing: Record<Alg, TestKey> = { ES256: es, RS256: rs }
  const keys: Record<Alg, TrustedKey> = { ES256: trusted(es), RS256: trusted(rs) }
  const smallPrint = [
    `${new Date().toISOString()}; commit ${commit()}; ${machineLine()}`,
    packageVersions(['fastify', '@fastify/websocket', '@fastify/jwt', 'fast-jwt', 'ws', 'socket.io', 'socket.io-client', 'graphql', 'graphql-ws', 'jose', 'jsonwebtoken']),
    packageVersions(['@wsguard/core', '@wsguard/auth-handshake', '@wsguard/topic-authz', '@wsguard/session-expiry', '@wsguard/telemetry']),
    `${PARTS.includes('handshakes') ? `handshakes: ${ROUNDS} rounds × ${COUNT}, ${CONCURRENCY} at a time` : 'handshakes not run'}; ${PARTS.includes('memory') ? `memory: ${MEM_CONNECTIONS} connections × ${MEM_RUNS} processes` : 'memory not run'}`
  ]
  console.log(`# Peers\n\n${smallPrint.join('\n\n')}`)
  const hs = PARTS.includes('handshakes') ? await handshakes(signing, keys) : undefined
  const mem = PARTS.includes('memory') ? await memory(signing, keys) : undefined
  chart(smallPrint, hs, mem)
  process.exit(0)
}

if (process.argv[2] === 'serve') await serverProcess(process.argv[3] as PeerId)
else await main()
