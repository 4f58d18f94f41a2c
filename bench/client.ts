// The load generator, in its own process so the server's CPU figures are the server's.
// Receives one batch at a time over IPC, answers with what it saw.
import { createPrivateKey } from 'node:crypto'
import WebSocket from 'ws'
import { mintToken, type TestKey } from '@wsguard/testing'

export interface Batch {
  url: string
  count: number
  concurrency: number
  /** how each connection presents its token */
  carrier: 'header' | 'none'
  tokens: TokenSpec
  expect: 'open' | 'reject'
  /** upper bound on the batch's duration */
  timeoutMs: number
  /** for wss: the CA to trust and, for mTLS, the client certificate */
  tls?: { ca: string, cert?: string, key?: string }
}

export type TokenSpec =
  | { kind: 'fresh', key: { alg: string, kid: string, privateJwk: Record<string, unknown> }, claims: Record<string, unknown> }
  | { kind: 'fixed', token: string }

export interface BatchResult { ok: number, wrong: number, elapsedMs: number }

function tokensFor (spec: TokenSpec, count: number): string[] {
  if (spec.kind === 'fixed') return Array.from({ length: count }, () => spec.token)
  const key = { alg: spec.key.alg, kid: spec.key.kid, privateKey: createPrivateKey({ key: spec.key.privateJwk as never, format: 'jwk' }) } as TestKey
  // A fresh token per connection (distinct jti), minted before the clock starts.
  return Array.from({ length: count }, (_, i) => mintToken(key, { ...spec.claims, jti: `${process.pid}-${Date.now()}-${i}` }))
}

function one (url: string, token: string | undefined, expect: 'open' | 'reject', tls: Batch['tls']): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, perMessageDeflate: false, ...tls })
    ws.on('open', () => { ws.terminate(); resolve(expect === 'open') })
    ws.on('unexpected-response', (req, res) => { res.resume(); req.destroy(); resolve(expect === 'reject') })
    ws.on('error', () => resolve(false))
  })
}

async function run (batch: Batch, tokens: string[]): Promise<BatchResult> {
  let next = 0
  let ok = 0
  let wrong = 0
  const started = performance.now()
  const deadline = started + batch.timeoutMs
  const worker = async (): Promise<void> => {
    while (next < batch.count && performance.now() < deadline) {
      const i = next++
      if (await one(batch.url, tokens[i], batch.expect, batch.tls)) ok++
      else wrong++
    }
  }
  await Promise.all(Array.from({ length: batch.concurrency }, worker))
  return { ok, wrong, elapsedMs: performance.now() - started }
}

// Two steps per batch: 'prepare' mints the tokens (client CPU only), 'go' runs the load,
// so the server's CPU is measured around the load alone.
let pending: { batch: Batch, tokens: string[] } | undefined
process.on('message', (msg: { type: 'prepare', batch: Batch } | { type: 'go' }) => {
  if (msg.type === 'prepare') {
    pending = { batch: msg.batch, tokens: msg.batch.carrier === 'none' ? [] : tokensFor(msg.batch.tokens, msg.batch.count) }
    process.send?.({ type: 'prepared' })
    return
  }
  const { batch, tokens } = pending as { batch: Batch, tokens: string[] }
  run(batch, tokens).then((result) => process.send?.({ type: 'done', ...result }))
})
process.on('disconnect', () => process.exit(0))
