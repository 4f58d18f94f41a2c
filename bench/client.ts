// The load generator, in its own process so the server's CPU figures are the server's.
// Receives one batch at a time over IPC, answers with what it saw. A batch either drops each
// connection as soon as it is accepted or refused ('go'), or keeps the accepted ones open
// ('hold') until told to let them go ('release').
import { createPrivateKey, randomBytes } from 'node:crypto'
import { mintToken, type TestKey } from '@wsguard/testing'
import { dial, type Dialed, type Protocol } from './dial.js'

export interface Batch {
  url: string
  count: number
  concurrency: number
  /** how each connection presents its token */
  carrier: 'header' | 'none'
  /** the connection's protocol and how it carries the token (dial.ts); 'ws' unless given */
  protocol?: Protocol
  tokens: TokenSpec
  expect: 'open' | 'reject'
  /** upper bound on the batch's duration */
  timeoutMs: number
  /**
   * connections started per second at most (connection i starts no earlier than i / rate s
   * after the batch): the same offered load for every server compared, rather than as fast as
   * each answers. Default: as fast as `concurrency` allows
   */
  ratePerS?: number
  /** for wss: the CA to trust and, for mTLS, the client certificate */
  tls?: { ca: string, cert?: string, key?: string }
}

export type TokenSpec =
  | { kind: 'fresh', key: { alg: string, kid: string, privateJwk: Record<string, unknown> }, claims: Record<string, unknown> }
  | { kind: 'fixed', token: string }
  /** a fresh string per connection shaped like a JWT (three base64url parts) that is not one */
  | { kind: 'garbage' }

export interface BatchResult {
  ok: number
  wrong: number
  elapsedMs: number
  /** how many connections ended each way ('open', 'http 401', 'close 4403', 'timeout'...) */
  outcomes: Record<string, number>
  /** this client process's CPU time over the batch, µs (near elapsedMs × 1000: the client was the limit) */
  clientCpuUs: number
}

/** A connection with no outcome after this long is counted wrong ('timeout'). */
const DIAL_TIMEOUT_MS = 10_000

function tokensFor (spec: TokenSpec, count: number): string[] {
  if (spec.kind === 'fixed') return Array.from({ length: count }, () => spec.token)
  if (spec.kind === 'garbage') return Array.from({ length: count }, () => [36, 120, 64].map((n) => randomBytes(n).toString('base64url')).join('.'))
  const key = { alg: spec.key.alg, kid: spec.key.kid, privateKey: createPrivateKey({ key: spec.key.privateJwk as never, format: 'jwk' }) } as TestKey
  // A fresh token per connection (distinct jti), minted before the clock starts.
  return Array.from({ length: count }, (_, i) => mintToken(key, { ...spec.claims, jti: `${process.pid}-${Date.now()}-${i}` }))
}

/** Runs the batch; `keep`, when given, receives the accepted connections instead of their being dropped. */
async function run (batch: Batch, tokens: string[], keep?: Dialed[]): Promise<BatchResult> {
  let next = 0
  let ok = 0
  let wrong = 0
  const outcomes: Record<string, number> = {}
  const started = performance.now()
  const cpu = process.cpuUsage()
  const deadline = started + batch.timeoutMs
  const worker = async (): Promise<void> => {
    while (next < batch.count && performance.now() < deadline) {
      const i = next++
      if (batch.ratePerS !== undefined) {
        const due = started + (i * 1000) / batch.ratePerS - performance.now()
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due))
      }
      const d = await dial(batch.protocol ?? 'ws', batch.url, { token: tokens[i], tls: batch.tls, timeoutMs: DIAL_TIMEOUT_MS })
      if (d.outcome === 'open' && keep !== undefined) keep.push(d)
      else d.drop()
      outcomes[d.label] = (outcomes[d.label] ?? 0) + 1
      if (d.outcome === (batch.expect === 'open' ? 'open' : 'refused')) ok++
      else wrong++
    }
  }
  await Promise.all(Array.from({ length: batch.concurrency }, worker))
  const used = process.cpuUsage(cpu)
  return { ok, wrong, elapsedMs: performance.now() - started, outcomes, clientCpuUs: used.user + used.system }
}

// Two steps per batch: 'prepare' mints the tokens (client CPU only), 'go' (or 'hold') runs
// the load, so the server's CPU is measured around the load alone.
let pending: { batch: Batch, tokens: string[] } | undefined
let held: Dialed[] = []
process.on('message', (msg: { type: 'prepare', batch: Batch } | { type: 'go' | 'hold' | 'release' }) => {
  if (msg.type === 'prepare') {
    pending = { batch: msg.batch, tokens: msg.batch.carrier === 'none' ? [] : tokensFor(msg.batch.tokens, msg.batch.count) }
    process.send?.({ type: 'prepared' })
    return
  }
  if (msg.type === 'release') {
    const n = held.length
    for (const d of held) d.drop()
    held = []
    process.send?.({ type: 'released', count: n })
    return
  }
  const { batch, tokens } = pending as { batch: Batch, tokens: string[] }
  pending = undefined
  run(batch, tokens, msg.type === 'hold' ? held : undefined).then((result) => process.send?.({ type: 'done', ...result, held: held.length }))
})
process.on('disconnect', () => process.exit(0))
