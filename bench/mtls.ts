// wss handshakes (pnpm bench): plain wss against auth-handshake with a client certificate
// (mtls), with a bearer token (jwt), and with both and a certificate-bound token (jwt+mtls).
// Every server is https with the same server certificate and asks for a client certificate
// (requestCert), so the TLS work is alike; the load comes from client.ts in a forked process,
// which opens a new TLS connection per handshake. Scenarios interleave round by round; each
// figure is the median over rounds of this process's CPU time per handshake.
import './built.js'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { claimsFor, createTestCa, generateKey, jwks } from '@wsguard/testing'
import { authHandshake } from '@wsguard/auth-handshake'
import type { Batch, TokenSpec } from './client.js'
import { measure, median, startClient, type Measured } from './lib.js'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const COUNT = Number(process.env.COUNT ?? 1000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)
const ISS = 'https://idp.bench'
const AUD = 'ingest'

const ca = await createTestCa()
const serverCert = await ca.issue({ commonName: 'server', ipAddresses: ['127.0.0.1'] })
const workload = await ca.issue({ uris: ['spiffe://prod.example/ns/billing/sa/api'] })
const es = generateKey('ES256')

async function server (withAuth: boolean): Promise<string> {
  const app = Fastify({ https: { key: serverCert.key, cert: serverCert.cert, ca: [ca.cert], requestCert: true, rejectUnauthorized: false } }) as unknown as FastifyInstance
  await app.register(websocket)
  if (withAuth) {
    await app.register(authHandshake, { mtls: { trustDomains: ['prod.example'] }, jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(es) } })
  }
  app.get('/feed', { websocket: true }, () => {})
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `wss://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`
}

const fresh = (extra: Record<string, unknown> = {}): TokenSpec => ({ kind: 'fresh', key: { alg: es.alg, kid: es.kid, privateJwk: es.privateJwk }, claims: { ...claimsFor(ISS, AUD, 'billing', Date.now(), 3600), ...extra } })

async function main (): Promise<void> {
  const plain = await server(false)
  const guarded = await server(true)
  const withCert = { ca: ca.cert, cert: workload.cert, key: workload.key }
  const scenarios: Array<{ name: string, url: string, carrier: Batch['carrier'], tokens: TokenSpec, tls: Batch['tls'] }> = [
    { name: 'plain wss (no client certificate, no auth)', url: plain, carrier: 'none', tokens: { kind: 'fixed', token: '' }, tls: { ca: ca.cert } },
    { name: 'plain wss, client certificate presented, no auth', url: plain, carrier: 'none', tokens: { kind: 'fixed', token: '' }, tls: withCert },
    { name: 'wsguard mtls (certificate only)', url: guarded, carrier: 'none', tokens: { kind: 'fixed', token: '' }, tls: withCert },
    { name: 'wsguard jwt (ES256 token, no certificate)', url: guarded, carrier: 'header', tokens: fresh(), tls: { ca: ca.cert } },
    { name: 'wsguard jwt+mtls (certificate + bound token)', url: guarded, carrier: 'header', tokens: fresh({ cnf: { 'x5t#S256': workload.thumbprint } }), tls: withCert }
  ]
  const child = startClient()
  const run = (s: typeof scenarios[number]): Promise<Measured> => measure(child, { url: s.url, count: COUNT, concurrency: CONCURRENCY, carrier: s.carrier, tokens: s.tokens, expect: 'open', timeoutMs: 120_000, tls: s.tls })
  for (const s of scenarios) await run(s) // warm-up
  const samples = new Map<string, Measured[]>()
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of scenarios) samples.set(s.name, [...(samples.get(s.name) ?? []), await run(s)])
    process.stderr.write(`round ${r + 1}/${ROUNDS}\n`)
  }
  child.disconnect()
  const base = median((samples.get(scenarios[0]!.name) ?? []).map((m) => m.cpuUs))
  console.log(`\n${ROUNDS} rounds x ${COUNT} wss handshakes, ${CONCURRENCY} at a time; node ${process.version}\n`)
  console.log('| scenario | server CPU µs/handshake | vs plain wss | handshakes/s | wrong outcomes |')
  console.log('|---|---:|---:|---:|---:|')
  for (const s of scenarios) {
    const ms = samples.get(s.name) ?? []
    const cpu = median(ms.map((m) => m.cpuUs))
    console.log(`| ${s.name} | ${cpu.toFixed(0)} | ${(cpu / base).toFixed(2)}x | ${median(ms.map((m) => m.rate)).toFixed(0)} | ${ms.reduce((a, m) => a + m.wrong, 0)} |`)
  }
  process.exit(0)
}

await main()
