// In-band refresh abused: a flood of auth.refresh frames (well-formed, then malformed), and
// refreshes that try to move the socket to another subject. session-expiry's refreshLimit
// answers WSG_RATE_LIMITED past the limit, a malformed frame closes 4400, another subject is
// refused and the principal stays. The flooding client runs in a process of its own, as an
// attacker would, while other clients' handshakes are timed.
import { spawn } from 'node:child_process'
import t, { type Test } from 'tap'
import { until } from '@wsguard/testing'
import { ALLOWED_ORIGIN } from './carriers.js'
import { compareUnderLoad, describe, handshakeTimes, RATIO, settle, withinRatio, type Comparison } from './latency.js'
import { securityServer, type SecurityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

const LIMIT = { max: 5, windowMs: 60_000 }
const BATCH = 20 // frames per turn of the flooder's event loop
const MAX_FRAMES = 10_000 // per flooding client
const RUNS = 3
const HANDSHAKES = 300 // per run: a p99 of 300 is not one outlier
// Past refreshLimit, session-expiry answers the first attempt of the window WSG_RATE_LIMITED
// and drops the rest unanswered (no reply, diagnostics message or audit line each), so a
// flood costs the server little more than reading it.

/** What the flooder saw: frames sent, replies (by code, or type), its principal at the end, the close. */
interface FloodReport {
  sent: number
  replies: Record<string, number>
  who: string
  close: { code: number, reason: string }
}

// The flooder: opens the socket, sends `frames` round-robin, BATCH a turn, until told to stop
// (or MAX_FRAMES); then two sentinels (frames are handled in order, so once the second is
// echoed every flood frame was seen and the checks in flight settled), `whoami`, and `last`
// (a malformed refresh, or nothing: a normal close). It reports once told to stop and the
// socket is closed, whichever comes last.
const FLOODER = `
const WebSocket = require('ws')
const { url, token, origin, frames, last, batch, max } = JSON.parse(process.argv[1])
const ws = new WebSocket(url, { headers: { authorization: 'Bearer ' + token }, origin })
const report = { sent: 0, replies: {}, who: '' }
let running = true
let echoes = 0
const pump = () => {
  if (!running || report.sent >= max || ws.readyState !== WebSocket.OPEN) return
  for (let i = 0; i < batch; i++) ws.send(frames[report.sent++ % frames.length])
  setImmediate(pump)
}
ws.on('open', () => { process.send('open'); pump() })
ws.on('message', (data) => {
  const text = String(data)
  if (text === 'sentinel') {
    if (++echoes === 1) ws.send('sentinel')
    else ws.send('whoami')
  } else if (!text.startsWith('{')) {
    report.who = text
    if (last === null) ws.close(1000)
    else ws.send(last)
  } else {
    const r = JSON.parse(text)
    const key = r.code ?? r.type
    report.replies[key] = (report.replies[key] ?? 0) + 1
  }
})
let closed = null
let stopping = false
const done = () => {
  process.send({ ...report, close: closed })
  process.disconnect()
}
process.on('message', () => {
  stopping = true
  if (closed !== null) return done()
  running = false
  ws.send('sentinel')
})
ws.on('close', (code, reason) => {
  closed = { code, reason: String(reason) }
  if (stopping) done()
})
`

/** Starts a flooder process; `stop()` ends the flood and resolves with its report. */
async function flood (t: Test, server: SecurityServer, token: string, frames: string[], last: string | null): Promise<Flood> {
  const url = server.url(server.feed)
  const settings = JSON.stringify({ url, token, origin: ALLOWED_ORIGIN, frames, last, batch: BATCH, max: MAX_FRAMES })
  const child = spawn(process.execPath, ['-e', FLOODER, settings], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => { child.kill() })
  const messages: unknown[] = []
  let exited = false
  child.on('message', (m) => messages.push(m))
  child.on('exit', () => { exited = true })
  await until(() => messages.includes('open'), 'the flooder is connected', { timeoutMs: 10_000 })
  return {
    async stop () {
      child.send('stop')
      await until(() => messages.length === 2, 'the flooder reported', { timeoutMs: 10_000 })
      // Neither run shares the machine with the flooder's exit: it waits for 'stop', and the
      // next unloaded run for its end.
      await until(() => exited, 'the flooder exited', { timeoutMs: 10_000 })
      return messages[1] as FloodReport
    }
  }
}

interface Flood { stop: () => Promise<FloodReport> }

/** `runs` pairs of unloaded and flooded runs; each flood is a new flooder process, its report kept. */
async function underFlood (t: Test, server: SecurityServer, token: string, frames: string[], last: string | null): Promise<{
  comparison: Comparison, reports: FloodReport[]
}> {
  let running: Flood | undefined
  const reports: FloodReport[] = []
  const measure = async (): Promise<number[]> => await handshakeTimes(server.url(server.feed), token, HANDSHAKES)
  // Up to two comparisons: other work on a shared machine can spoil one, a slowdown the flood causes spoils both.
  const all = await settle(async () => await compareUnderLoad(RUNS, measure, {
    async start () { running = await flood(t, server, token, frames, last) },
    async stop () { reports.push(await (running as Flood).stop()) }
  }), 2)
  for (const c of all) t.comment(describe(c))
  const comparison = all.at(-1) as Comparison
  return { comparison, reports }
}

const refresh = (token: string): string => JSON.stringify({ type: 'auth.refresh', token })
/** a token of alice (or `extra.sub`) that expires an hour after the session's */
const later = (now: number, extra: Record<string, unknown> = {}): string =>
  sign(ec, claims(now, { exp: now / 1000 + 7200, ...extra }))
const WITHIN = `loaded p99 within ${RATIO}x of the unloaded p99 (medians of runs)`

t.test('a flood of auth.refresh: five checked, one told it is limited, then closed 4400', async (t) => {
  const server = await securityServer(t, { session: { refreshLimit: LIMIT } })
  const now = server.clock.now()
  const { comparison, reports } = await underFlood(t, server, sign(ec, claims(now)), [refresh(later(now))], null)
  const sent = reports.reduce((n, r) => n + r.sent, 0)
  const replies = reports.reduce((n, r) => n + Object.values(r.replies).reduce((a, b) => a + b, 0), 0)
  const audited = server.logs.lines.filter((l) => l.includes('"event":"session.refresh_failed"')).length
  t.comment(`${sent} auth.refresh frames sent in ${RUNS} floods: ${replies} reply frames, ${audited} refresh_failed audit lines`)
  for (const r of reports) {
    const total = Object.values(r.replies).reduce((a, b) => a + b, 0)
    t.ok(total <= LIMIT.max + 1, `replies bounded by the limit, not one a flooded frame (${total})`)
    t.ok((r.replies.WSG_RATE_LIMITED ?? 0) <= 1, 'told it is limited at most once')
    t.same(r.close, { code: 4400, reason: 'too many refresh messages' }, 'the flood is closed 4400')
  }
  t.ok(audited <= reports.length * (LIMIT.max + 1), `audit lines bounded too (${audited} for ${reports.length} floods)`)
  t.ok(withinRatio(comparison), WITHIN)
})

t.test('a flood of malformed auth.refresh frames: one close 4400, no reply', async (t) => {
  const server = await securityServer(t)
  const client = await server.open(t, sign(ec, claims(server.clock.now())))
  const replies: string[] = []
  client.ws.on('message', (data) => replies.push(String(data)))
  for (let i = 0; i < 1_000; i++) client.ws.send(JSON.stringify({ type: 'auth.refresh', token: i % 2 === 0 ? '' : 42 }))
  t.same(await client.closed, { code: 4400, reason: 'malformed control message' })
  t.same(replies, [], 'no reply frame')
})

t.test('refreshes with valid tokens of other subjects, flooded: refused, then closed 4400', async (t) => {
  const server = await securityServer(t, { session: { refreshLimit: LIMIT } })
  const now = server.clock.now()
  const foreign = Array.from({ length: 50 }, (_, i) => refresh(later(now, { sub: `mallory-${i}` })))
  const { comparison, reports } = await underFlood(t, server, sign(ec, claims(now)), foreign, null)
  for (const r of reports) {
    t.notOk('auth.refreshed' in r.replies, 'no refresh to another subject succeeds')
    t.ok(Object.values(r.replies).reduce((a, b) => a + b, 0) <= LIMIT.max + 1, 'replies bounded by the limit')
    t.same(r.close, { code: 4400, reason: 'too many refresh messages' }, 'the flood is closed 4400')
  }
  t.notOk(server.logs.lines.some((l) => l.includes('"event":"session.refreshed"')), 'no refresh was audited')
  t.ok(withinRatio(comparison), WITHIN)
})

t.test('refreshes to other subjects, window after window: each refused, the principal never changes', async (t) => {
  const server = await securityServer(t, { session: { refreshLimit: LIMIT } })
  const now = server.clock.now()
  const client = await server.open(t, sign(ec, claims(now)))
  const refused = { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' }
  const limited = { type: 'auth.refresh_failed', code: 'WSG_RATE_LIMITED' }
  for (let window = 0; window < 3; window++) {
    const answers: unknown[] = []
    for (let i = 0; i < LIMIT.max + 1; i++) {
      answers.push(await client.ask(refresh(later(now, { sub: `mallory-${window}-${i}` }))))
    }
    t.same(answers, [...Array(LIMIT.max).fill(refused), limited], `window ${window}`)
    t.equal(await client.ask('whoami'), 'alice')
    t.equal(await client.ask('ping'), 'ping', 'the app still gets its own frames')
    server.clock.advance(LIMIT.windowMs)
  }
})
