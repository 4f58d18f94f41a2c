// Bytes allocated per accepted handshake, by server configuration (stack-app.ts's: the bare
// fast-jwt hook, then wsguard's plugins added one at a time up to the whole stack). Garbage is
// what a handshake costs beyond its CPU: it is collected later, by the scavenges and major GCs
// that the soak's handshake latency suffers from. Unlike CPU time, it hardly depends on what
// else the machine runs, so a change can be judged on a busy machine too.
// Each configuration runs in a process of its own (this file, forked with `serve`), which
// samples its allocations with V8's sampling heap profiler, keeping objects already collected
// (one sample per 256 bytes on average; V8 scales each sample to an estimate of the bytes).
// The load is bench/client.ts's: a fresh ES256 token per connection, opened and closed.
import './built.js'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import type { TokenSpec } from './client.js'
import { startHeapSampling, type Sampled } from './heap-sampling.js'
import { answerParent, forkServer, machineLine, measure, socketTracker, startClient, type Served } from './lib.js'
import { AUD, ISS, stackApp, type Stack, type TrustedKey } from './stack-app.js'

const COUNT = Number(process.env.COUNT ?? 2000)
const WARMUP = Number(process.env.WARMUP ?? 500)
const TOP = Number(process.env.TOP ?? 12)
const STACKS: Array<{ stack: Stack, name: string }> = [
  { stack: 'bare', name: 'bare fast-jwt hook' },
  { stack: 'bare+authenticate', name: 'bare hook calling auth-handshake\'s token check' },
  { stack: 'auth', name: 'auth-handshake (JWKS, claims schema, scopes)' },
  { stack: 'auth+topics', name: '+ topic-authz (handshake topic)' },
  { stack: 'auth+topics+expiry', name: '+ session-expiry' },
  { stack: 'full', name: '+ telemetry = whole stack' }
]

async function serverProcess (stack: Stack): Promise<void> {
  const app = await stackApp(stack, 'off', JSON.parse(process.env.BENCH_KEY as string) as TrustedKey)
  const sockets = socketTracker()
  sockets.track(app)
  let sampling: Awaited<ReturnType<typeof startHeapSampling>> | undefined
  answerParent(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed/acme`, sockets, {
    start: async () => {
      await sockets.settle()
      // Every site: the parent ranks the whole stack's against the bare hook's.
      sampling = await startHeapSampling(256, true, Number.POSITIVE_INFINITY)
      return true
    },
    stop: async () => {
      await sockets.settle()
      const { bytes, top } = await (sampling as NonNullable<typeof sampling>).stop()
      return { bytes, top }
    }
  })
}

async function main (): Promise<void> {
  const { generateKey, jwks, claimsFor } = await import('@wsguard/testing')
  const es = generateKey('ES256')
  const key: TrustedKey = { alg: 'ES256', pem: es.publicKey.export({ type: 'spki', format: 'pem' }) as string, jwks: jwks(es) }
  const tokens: TokenSpec = { kind: 'fresh', key: { alg: es.alg, kid: es.kid, privateJwk: es.privateJwk }, claims: { ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), scope: 'feed:read', tenant: 'acme' } }
  const child = startClient()
  const rows: Array<{ name: string, perHandshake: number, top: Array<[string, number]> }> = []
  for (const { stack, name } of STACKS) {
    const served: Served = await forkServer(fileURLToPath(import.meta.url), ['serve', stack], { env: { BENCH_KEY: JSON.stringify(key) } })
    const batch = (count: number): Parameters<typeof measure>[1] => ({ url: served.url, count, concurrency: 16, carrier: 'header', tokens, expect: 'open', timeoutMs: 60_000 })
    await measure(child, batch(WARMUP))
    await served.ask('start')
    const m = await measure(child, batch(COUNT))
    const sampled = await served.ask<Sampled>('stop')
    await served.kill()
    if (m.wrong > 0) throw new Error(`${name}: ${m.wrong} handshakes did not open (${JSON.stringify(m.outcomes)})`)
    rows.push({ name, perHandshake: sampled.bytes / m.n, top: sampled.top.map(([site, b]) => [site, b / m.n]) })
    process.stderr.write(`${name}: done\n`)
  }
  child.disconnect()
  const base = rows[0]?.perHandshake as number
  console.log(`\n${COUNT} accepted handshakes per configuration after ${WARMUP} unrecorded, fresh ES256 token each; ${machineLine()}\n`)
  console.log('| server | bytes allocated per handshake (sampled) | above the bare hook |')
  console.log('|---|---:|---:|')
  for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.perHandshake).toLocaleString('en-US')} | ${Math.round(r.perHandshake - base).toLocaleString('en-US')} |`)
  const full = rows[rows.length - 1] as typeof rows[number]
  console.log('\nWhere the whole stack allocates most (bytes per handshake, by function):\n')
  for (const [site, b] of full.top.slice(0, TOP)) console.log(`- ${Math.round(b)} ${site}`)
  const bare = new Map((rows[0] as typeof rows[number]).top)
  const more = full.top.map(([site, b]): [string, number] => [site, b - (bare.get(site) ?? 0)]).sort((a, b) => b[1] - a[1])
  console.log('\nWhere it allocates more than the bare hook (bytes per handshake, by function; sampled, so ± about 30 each):\n')
  for (const [site, b] of more.slice(0, TOP)) console.log(`- ${Math.round(b)} ${site}`)
}

if (process.argv[2] === 'serve') await serverProcess(process.argv[3] as Stack)
else await main()
