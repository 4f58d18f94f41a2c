// The whole stack's handshake cost (issue 15): all four plugins as users register them,
// against a bare fast-jwt hook and plain @fastify/websocket, with an attribution (each plugin
// added one at a time; the bare hook with as many no-op hooks as the stack adds, for what
// Fastify's hook machinery costs alone; the bare hook with the whole stack registered on a
// second app in its process that no client dials, for what wsguard's code and heap cost by
// being there; a floor, the stack's checks and records written as one hook, logger off and on (stack-floor.ts,
// not wsguard); the bare hook calling auth-handshake's token check in
// place of its verifier, with and without the verified-token cache, for what the plugin costs
// around its token work; the stack without its verified-token cache, for what
// the cache costs when every token is new) and the app's logger off, on (as
// `Fastify({ logger: true })` sets it up), and on with its lines built but not written.
// Each server configuration runs in a process of its own (this file, forked with `serve`):
// diagnostics channels are process-wide, so telemetry in one process would hear every server.
// The load comes from bench/client.ts in another process: a fresh ES256 token per connection.
// Client pinned to core 0, servers to core 1; a batch is read once its sockets have closed;
// each round runs every configuration once (order rotating) and the figure is the median of
// the per-round ratio to the bare hook with the same logging (paired), with the quartiles of
// those ratios: the spread one round's figure has on this machine.
import './built.js'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import type { TokenSpec } from './client.js'
import { answerParent, forkServer, measureOn, median, pin, socketTracker, startClient, type Measured, type Served } from './lib.js'
import { AUD, FEED_PATH, ISS, STACK_CONFIGS as CONFIGS, stackApp, type Logging, type Stack, type StackConfig as Config, type TrustedKey } from './stack-app.js'

const ROUNDS = Number(process.env.ROUNDS ?? 21)
const COUNT = Number(process.env.COUNT ?? 500)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)

function serve (config: Config, key: TrustedKey): Promise<Served> {
  // PROFILE_INTERVAL_US: the profiler's sampling interval (node's default is 1000 µs)
  const interval = process.env.PROFILE_INTERVAL_US !== undefined ? [`--cpu-prof-interval=${process.env.PROFILE_INTERVAL_US}`] : []
  const prof = process.env.PROFILE_DIR !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}/${config.stack}-${config.logging}`, ...interval] : []
  // SERVER_FLAGS: more node flags for the servers (e.g. --perf-basic-prof, for `perf record -p`)
  const flags = (process.env.SERVER_FLAGS ?? '').split(' ').filter((f) => f !== '')
  return forkServer(fileURLToPath(import.meta.url), ['serve', config.stack, config.logging], { execArgv: [...prof, ...flags], env: { BENCH_KEY: JSON.stringify(key) } })
}

async function serverProcess (stack: Stack, logging: Logging): Promise<void> {
  const app = await stackApp(stack, logging, JSON.parse(process.env.BENCH_KEY as string) as TrustedKey)
  const sockets = socketTracker()
  sockets.track(app)
  answerParent(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}${FEED_PATH}`, sockets)
}

async function main (): Promise<void> {
  // Imported here, so that the server processes (this file, forked) do not load oidc-provider with it.
  const { generateKey, jwks, claimsFor } = await import('@wsguard/testing')
  const es = generateKey('ES256')
  const key: TrustedKey = { alg: 'ES256', pem: es.publicKey.export({ type: 'spki', format: 'pem' }) as string, jwks: jwks(es) }
  // ONLY=<comma-separated stacks> narrows the run (e.g. for a profile); the bare hook always runs.
  const only = process.env.ONLY?.split(',')
  const chosen = CONFIGS.filter((c) => only === undefined || c.stack === 'bare' || only.includes(c.stack))
  const servers = new Map<Config, Served>()
  for (const c of chosen) servers.set(c, await serve(c, key))
  const child = startClient()
  const pinned = [child.pid, ...[...servers.values()].map((s) => s.pid)].every((pid, i) => pin(pid, i === 0 ? 0 : 1))
  const tokens: TokenSpec = { kind: 'fresh', key: { alg: es.alg, kid: es.kid, privateJwk: es.privateJwk }, claims: { ...claimsFor(ISS, AUD, 'alice', Date.now(), 3600), scope: 'feed:read', tenant: 'acme' } }
  const run = (c: Config): Promise<Measured> => {
    const srv = servers.get(c) as Served
    return measureOn(child, srv, { url: srv.url, count: COUNT, concurrency: CONCURRENCY, carrier: 'header', tokens, expect: 'open', timeoutMs: 60_000 })
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
  console.log('| server | server CPU µs/handshake (median) | of which kernel (median) | vs bare hook, same logging (paired; quartiles) | handshakes/s (median) | wrong outcomes |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const c of chosen) {
    const ms = samples.get(c) ?? []
    const b = base(c.logging)
    const ratios = b.length === ms.length ? ms.map((m, i) => m.cpuUs / (b[i] as Measured).cpuUs).sort((x, y) => x - y) : []
    // Indexed as median() picks its middle (floor(n/2)), so the quartiles bracket it for any n.
    const q = (f: number): string => (ratios[Math.min(ratios.length - 1, Math.floor(f * ratios.length))] as number).toFixed(2)
    const paired = ratios.length > 0 ? `${median(ratios).toFixed(2)}x (${q(0.25)}-${q(0.75)})` : '–'
    console.log(`| ${c.name} | ${median(ms.map((m) => m.cpuUs)).toFixed(0)} | ${median(ms.map((m) => m.sysUs ?? 0)).toFixed(0)} | ${paired} | ${median(ms.map((m) => m.rate)).toFixed(0)} | ${ms.reduce((a, m) => a + m.wrong, 0)} |`)
  }
  process.exit(0)
}

if (process.argv[2] === 'serve') await serverProcess(process.argv[3] as Stack, process.argv[4] as Logging)
else await main()
