// Regression tests of the hardening issue that concern bounded resources, end to end with all
// four plugins, written against the intended behaviour while the fixes come from other
// branches (each section says what broke).
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { until, type SocketClient } from '@wsguard/testing'
import type { Answer } from './client.js'
import { securityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

// Hardening finding 4: clients choose topic actions and close codes, and telemetry made a
// metric series of each. An action outside topic-authz's `actions` is denied as
// 'unknown-action'; 3,000 client-chosen actions and every close code a client can send leave
// telemetry's registry with a bounded number of series and /metrics small.
const ACTIONS = 3_000
// every close code a client may send (RFC 6455 §7.4, as ws checks them): 2,012 of them
const CLOSE_CODES = [
  1000, 1001, 1002, 1003, ...Array.from({ length: 8 }, (_, i) => 1007 + i),
  ...Array.from({ length: 2000 }, (_, i) => 3000 + i)
]
const MAX_SERIES = 1_000
const MAX_METRICS_BYTES = 64 * 1024
const PARALLEL = 25

t.test('client-chosen actions and close codes do not grow the metrics registry', async (t) => {
  const server = await securityServer(t)
  const token = sign(ec, claims(server.clock.now()))
  const open = async (): Promise<SocketClient> => await server.open(t, token)

  const client = await open()
  for (let i = 0; i < ACTIONS; i++) client.send(`authorize act-${i} orders.acme.eu`)
  const decisions: Array<{ allow: boolean, reason?: string }> = []
  for (let i = 0; i < ACTIONS; i++) decisions.push(await client.next() as { allow: boolean, reason?: string })
  const wrong = decisions.filter((d) => d.allow || d.reason !== 'unknown-action')
  t.same(wrong.slice(0, 2), [], `every unknown action is denied as unknown-action (${wrong.length} of ${ACTIONS} are not)`)
  const allowed = { allow: true, rule: 'orders.{tenant}.>', captures: { tenant: 'acme' } }
  t.same(await client.ask('authorize subscribe orders.acme.eu'), allowed, 'a known action still decides')
  client.ws.close(1000)
  await client.closed

  for (let i = 0; i < CLOSE_CODES.length; i += PARALLEL) {
    await Promise.all(CLOSE_CODES.slice(i, i + PARALLEL).map(async (code) => {
      const c = await open()
      c.ws.close(code)
      await c.closed
    }))
  }

  const registry = server.app.wsguardTelemetry.registry
  t.ok(registry !== undefined, 'telemetry has a registry')
  const series = (await registry?.getMetricsAsJSON() ?? []).reduce((n, m) => n + m.values.length, 0)
  const text = (await server.app.inject('/metrics')).body
  t.comment(`${series} series, /metrics ${text.length} bytes, after ${ACTIONS} actions and ${CLOSE_CODES.length} close codes`)
  t.ok(series < MAX_SERIES, `a bounded number of series (${series} < ${MAX_SERIES})`)
  t.ok(text.length < MAX_METRICS_BYTES, `/metrics stays small (${text.length} < ${MAX_METRICS_BYTES} bytes)`)
})

// Hardening finding 8: the key set was read whole (res.text()) before its size was checked,
// so a key server sending an endless chunked body was read until jwksTimeoutMs (10 MB here),
// or, in one run of several, past it (32 MB over 3 s with jwksTimeoutMs at 1 s: the timeout
// signal was lost). Now at most about 512 KB is read, a body that drips is cut within
// jwksTimeoutMs, and the handshake gets 503 WSG_UNAVAILABLE.
const LIMIT_BYTES = 512 * 1024
const CHUNK = ' '.repeat(16 * 1024) // JSON whitespace: the body stays a valid beginning
const CAP_BYTES = 32 * 1024 * 1024 // the endless body ends here, so the test does too
const DRIP_MS = 50
const TIMEOUT_MS = 1_000

interface KeyServer {
  url: string
  written: () => number
  closedAt: () => number | undefined
  /** ends every response at once (a reader that never hangs up would hold the app's close) */
  cut: () => void
}

/** A key server whose /jwks body is `body(res)`; it counts what it wrote and sees when the reader hangs up. */
async function keyServer (t: Test, body: (res: ServerResponse, count: (n: number) => void) => void): Promise<KeyServer> {
  let written = 0
  let closedAt: number | undefined
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }) // no length: chunked
    res.on('close', () => { closedAt ??= performance.now() })
    body(res, (n) => { written += n })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    written: () => written,
    closedAt: () => closedAt,
    cut: () => server.closeAllConnections()
  }
}

async function refusedUnavailable (t: Test, keys: KeyServer): Promise<void> {
  const server = await securityServer(t, { jwt: { jwksUri: keys.url, jwksTimeoutMs: TIMEOUT_MS } })
  t.teardown(keys.cut) // runs before the app closes (teardowns run last added, first)
  const started = performance.now()
  // A handshake never answered fails here, well before tap's timeout.
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<Answer>((resolve) => {
    timer = setTimeout(() => resolve({ status: 0, headers: {}, body: 'no answer' }), TIMEOUT_MS + 5_000)
  })
  const answer = await Promise.race([server.bearer(t, sign(ec, claims(server.clock.now()))), deadline])
  clearTimeout(timer)
  const ms = performance.now() - started
  t.comment(`the handshake was answered in ${ms.toFixed(0)} ms (jwksTimeoutMs ${TIMEOUT_MS})`)
  t.equal(answer.status, 503, 'the handshake is refused 503')
  t.ok(ms <= TIMEOUT_MS + 1_000, 'within jwksTimeoutMs (and a second for a busy machine)')
  t.match(answer.body, '"code":"WSG_UNAVAILABLE"')
}

t.test('an endless chunked key set: about 512 KB read, then 503', async (t) => {
  const keys = await keyServer(t, (res, count) => {
    let sent = 0
    res.write('{"keys":[')
    const more = (): void => {
      if (res.destroyed) return
      if (sent >= CAP_BYTES) { res.end(']}'); return }
      sent += CHUNK.length
      count(CHUNK.length)
      // A chunk a millisecond at most (16 MB/s), and never more than the socket takes: what the
      // server has written is then close to what the reader has read when it hangs up.
      const next = (): void => { setTimeout(more, 1) }
      if (res.write(CHUNK)) next()
      else res.once('drain', next)
    }
    more()
  })
  await refusedUnavailable(t, keys)
  await until(() => keys.closedAt() !== undefined, 'the reader hung up or the body ended', { timeoutMs: 10_000 })
  t.comment(`the key server wrote ${(keys.written() / 1024).toFixed(0)} KB before the reader hung up`)
  t.ok(keys.written() <= 2 * LIMIT_BYTES, `at most about 512 KB read (${keys.written()} bytes written)`)
})

t.test('a key set that drips: cut within jwksTimeoutMs, then 503', async (t) => {
  let opened = 0
  const keys = await keyServer(t, (res) => {
    opened = performance.now()
    res.write('{"keys":[')
    const drip = setInterval(() => { if (res.destroyed) clearInterval(drip); else res.write(' ') }, DRIP_MS)
    res.on('close', () => clearInterval(drip))
  })
  await refusedUnavailable(t, keys)
  await until(() => keys.closedAt() !== undefined, 'the reader hung up', { timeoutMs: 10 * TIMEOUT_MS })
  const ms = (keys.closedAt() as number) - opened
  t.comment(`the reader hung up ${ms.toFixed(0)} ms after the body began`)
  t.ok(ms <= TIMEOUT_MS + 1_000, `within jwksTimeoutMs (${TIMEOUT_MS} ms, and a second for a busy machine)`)
})
