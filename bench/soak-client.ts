// The soak's clients (bench/soak.ts forks them). 'load': holds a share of the sessions, each
// slot one socket with its own subject; refreshers answer every auth.expiring with a fresh
// token, the other slots let their credential run out and must be closed 4401; every closed
// slot opens again (a new handshake), and a bounded number of refreshers per second are closed
// by the client (churn). 'probe': holds no load, and times handshakes one at a time.
import './built.js'
import { createPrivateKey } from 'node:crypto'
import { createConnection, type NetConnectOpts } from 'node:net'
import WebSocket, { type ClientOptions } from 'ws'
import { mintToken, type TestKey } from '@wsguard/testing'

export interface Plan {
  port: number
  index: number
  /** sessions this client holds */
  share: number
  key: { alg: string, kid: string, privateJwk: Record<string, unknown> }
  iss: string
  aud: string
  tokenMinS: number
  tokenMaxS: number
  /** every n-th slot never refreshes */
  nonRefreshEvery: number
  /** this client's voluntary closes per second */
  churnPerS: number
  rampConcurrency: number
  /** a refresher answers auth.expiring after a random delay below this, ms */
  refreshJitterMs: number
  /** the loopback address the probe dials from (the load clients dial from 127.0.0.1) */
  probeFrom: string
}

export type Command =
  | { type: 'ramp', plan: Plan }
  | { type: 'quiesce', timeoutMs: number }
  | { type: 'report', timeoutMs: number }
  | { type: 'unloaded', plan: Plan, count: number, warmup: number, intervalMs: number }
  | { type: 'probe', intervalMs: number, maxCount: number }
  | { type: 'probe-stop' }

/** What one client saw; the parent adds them up. */
export interface Tally {
  opened: number
  handshakeFailed: Record<string, number>
  /** ms from new WebSocket() to 'open', for handshakes after the ramp */
  handshakeMs: number[]
  closedByCode: Record<string, number>
  notices: number
  refreshSent: number
  refreshed: number
  refreshFailed: Record<string, number>
  /** refreshes that got no answer: pending when the socket closed or when the run ended */
  unanswered: number
  /** answers to no refresh of ours */
  strayAnswers: number
  /** close 4401 received minus the deadline announced in the last auth.expiring, ms */
  overshootMs: number[]
  /** when each of those closes was received (Date.now()), to place the late ones in the run's phases */
  overshootAt: number[]
  expiredWithoutNotice: number
  refresherExpired: number
  /** a slot that never refreshes, closed with anything but 4401 (or 1001 at the end) */
  lapsedOtherwise: number
  topicsAllowed: number
  topicsDenied: number
  topicsWrong: number
  stillOpen: number
}

export type ClientMessage =
  | { type: 'ready' }
  | { type: 'ramped', ms: number }
  | { type: 'quiesced', pending: number }
  | { type: 'report', tally: Tally }
  | { type: 'latencies', ms: number[], at: number[], connected: number[], dialed: number[], subjects: string[], failed: Record<string, number> }
  // connected[i]: when handshake i's TCP connection was established, on the client's side (ms since the epoch);
  // dialed[i]: when ws asked for that connection (its createConnection call), the same clock
  // at[i]: when handshake i started (ms since the epoch, sub-ms), to set it beside the server's GC pauses

const tally: Tally = {
  opened: 0,
  handshakeFailed: {},
  handshakeMs: [],
  closedByCode: {},
  notices: 0,
  refreshSent: 0,
  refreshed: 0,
  refreshFailed: {},
  unanswered: 0,
  strayAnswers: 0,
  overshootMs: [],
  overshootAt: [],
  expiredWithoutNotice: 0,
  refresherExpired: 0,
  lapsedOtherwise: 0,
  topicsAllowed: 0,
  topicsDenied: 0,
  topicsWrong: 0,
  stillOpen: 0
}
const bump = (r: Record<string, number>, k: string | number): void => { r[k] = (r[k] ?? 0) + 1 }
const MAX_SAMPLES = 500_000

interface Slot {
  i: number
  subject: string
  tenant: string
  refresher: boolean
  ws: WebSocket | undefined
  minted: number
  deadline: number | undefined
  pending: boolean
  /** a refresh about to be sent (after its jitter) */
  waiting: NodeJS.Timeout | undefined
}

let plan: Plan
let key: TestKey
let stopping = false
let rampDone = false
const slots: Slot[] = []

function tokenFor (slot: Pick<Slot, 'i' | 'subject' | 'tenant' | 'minted'>): string {
  const span = plan.tokenMaxS - plan.tokenMinS + 1
  const lifetimeS = plan.tokenMinS + ((slot.i * 7 + slot.minted * 13) % span) // staggered
  const iat = Math.floor(Date.now() / 1000)
  const jti = `${process.pid}-${slot.i}-${slot.minted}`
  const claims = { iss: plan.iss, aud: plan.aud, sub: slot.subject, iat, exp: iat + lifetimeS, jti, scope: 'feed:read' }
  return mintToken(key, { ...claims, tenant: slot.tenant })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function signingKey (p: Plan): TestKey {
  const privateKey = createPrivateKey({ key: p.key.privateJwk as never, format: 'jwk' })
  return { alg: p.key.alg, kid: p.key.kid, privateKey } as TestKey
}

function open (tenant: string, token: string, onConnect?: () => void, onDial?: () => void): WebSocket {
  const url = `ws://127.0.0.1:${plan.port}/feed/${tenant}`
  const options: ClientOptions = { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false }
  // The probe notes when its TCP connection is up: what comes before is the client's, what comes after the server's.
  if (onConnect !== undefined) {
    options.localAddress = plan.probeFrom
    options.createConnection = (o) => {
      onDial?.()
      return createConnection(o as NetConnectOpts).once('connect', onConnect)
    }
  }
  return new WebSocket(url, options)
}

function otherTenant (slot: Slot): string { return `t${(Number(slot.tenant.slice(1)) + 1) % 50}` }

function subscribe (slot: Slot, ws: WebSocket, withDenied: boolean): void {
  ws.send(JSON.stringify({ type: 'subscribe', topic: `orders.${slot.tenant}.eu` }))
  if (withDenied) ws.send(JSON.stringify({ type: 'subscribe', topic: `orders.${otherTenant(slot)}.eu` }))
}

function refresh (slot: Slot, ws: WebSocket): void {
  slot.waiting = undefined
  if (stopping || slot.ws !== ws || ws.readyState !== WebSocket.OPEN) return
  slot.minted++
  slot.pending = true
  tally.refreshSent++
  ws.send(JSON.stringify({ type: 'auth.refresh', token: tokenFor(slot) }))
}

function onMessage (slot: Slot, ws: WebSocket, raw: string): void {
  const msg = JSON.parse(raw) as { type: string, deadline?: number, code?: string, topic?: string, reason?: string }
  switch (msg.type) {
    case 'auth.expiring':
      tally.notices++
      slot.deadline = msg.deadline
      if (!slot.refresher || stopping) return
      // A fleet answers over a spread of network and client delays, not in the same millisecond.
      slot.waiting = setTimeout(() => refresh(slot, ws), Math.random() * plan.refreshJitterMs)
      return
    case 'auth.refreshed':
    case 'auth.refresh_failed':
      if (!slot.pending) { tally.strayAnswers++; return }
      slot.pending = false
      if (msg.type === 'auth.refresh_failed') return bump(tally.refreshFailed, String(msg.code))
      tally.refreshed++
      subscribe(slot, ws, false) // a decision on the refreshed principal
      return
    case 'subscribed':
    case 'denied': {
      const own = msg.topic === `orders.${slot.tenant}.eu`
      const right = msg.type === 'subscribed' ? own : !own && msg.reason === 'claim-mismatch'
      if (!right) tally.topicsWrong++
      else if (msg.type === 'subscribed') tally.topicsAllowed++
      else tally.topicsDenied++
    }
  }
}

/** Opens the slot's socket; `done` is called once, when it opened or was refused. */
function connect (slot: Slot, done?: () => void): void {
  slot.minted++
  const token = tokenFor(slot)
  slot.deadline = undefined
  slot.pending = false
  const started = performance.now()
  const timed = rampDone
  const ws = open(slot.tenant, token)
  slot.ws = ws
  let opened = false
  // Refused or never opened: counted, and the slot tries again a second later.
  const fail = (why: string): void => {
    if (slot.ws !== ws) return
    slot.ws = undefined
    bump(tally.handshakeFailed, why)
    done?.()
    if (!stopping) setTimeout(() => { if (!stopping && slot.ws === undefined) connect(slot) }, 1000).unref()
  }
  ws.on('unexpected-response', (req, res) => { res.resume(); req.destroy(); fail(String(res.statusCode)) })
  ws.on('error', () => {}) // reported by 'close'
  ws.on('open', () => {
    opened = true
    if (timed && tally.handshakeMs.length < MAX_SAMPLES) tally.handshakeMs.push(performance.now() - started)
    tally.opened++
    subscribe(slot, ws, slot.i % 5 === 0)
    done?.()
  })
  ws.on('message', (data) => onMessage(slot, ws, String(data)))
  ws.on('close', (code) => {
    if (!opened) return fail('socket-error')
    if (slot.ws !== ws) return
    slot.ws = undefined
    closed(slot, code)
    if (!stopping) connect(slot)
  })
}

function closed (slot: Slot, code: number): void {
  bump(tally.closedByCode, code)
  if (slot.pending) tally.unanswered++
  slot.pending = false
  clearTimeout(slot.waiting)
  slot.waiting = undefined
  if (code === 4401) {
    if (slot.deadline === undefined) tally.expiredWithoutNotice++
    else if (tally.overshootMs.length < MAX_SAMPLES) {
      const now = Date.now()
      tally.overshootMs.push(now - slot.deadline)
      tally.overshootAt.push(now)
    }
    if (slot.refresher) tally.refresherExpired++
  } else if (!slot.refresher && code !== 1001) {
    tally.lapsedOtherwise++
  }
}

async function ramp (p: Plan): Promise<void> {
  plan = p
  key = signingKey(p)
  for (let i = 0; i < p.share; i++) {
    const refresher = i % p.nonRefreshEvery !== 0
    const subject = `c${p.index}-s${i}`
    const tenant = `t${i % 50}`
    slots.push({ i, subject, tenant, refresher, ws: undefined, minted: 0, deadline: undefined, pending: false, waiting: undefined })
  }
  const started = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < slots.length) {
      const slot = slots[next++] as Slot
      await new Promise<void>((resolve) => connect(slot, resolve))
    }
  }
  await Promise.all(Array.from({ length: p.rampConcurrency }, worker))
  rampDone = true
  if (p.churnPerS > 0) churn(p.churnPerS)
  send({ type: 'ramped', ms: performance.now() - started })
}

/** Closes one open refresher with no refresh in flight every 1/churnPerS s; it opens again on close. */
function churn (perS: number): void {
  const timer = setInterval(() => {
    if (stopping) return clearInterval(timer)
    const start = Math.floor(Math.random() * slots.length)
    for (let k = 0; k < slots.length; k++) {
      const slot = slots[(start + k) % slots.length] as Slot
      if (slot.refresher && !slot.pending && slot.waiting === undefined && slot.ws?.readyState === WebSocket.OPEN) {
        slot.ws.close(1000, 'churn')
        return
      }
    }
  }, 1000 / perS)
}

/** Stops churn, reopening and new refreshes; waits (bounded) for the refreshes in flight. */
async function quiesce (timeoutMs: number): Promise<number> {
  stopping = true
  const until = Date.now() + timeoutMs
  while (slots.some((s) => s.pending) && Date.now() < until) await sleep(50)
  const pending = slots.filter((s) => s.pending).length
  tally.unanswered += pending
  for (const s of slots) s.pending = false
  return pending
}

async function report (timeoutMs: number): Promise<Tally> {
  const until = Date.now() + timeoutMs
  while (slots.some((s) => s.ws !== undefined) && Date.now() < until) await sleep(50)
  tally.stillOpen = slots.filter((s) => s.ws !== undefined).length
  return tally
}

// --- probe: one handshake at a time, timed ---

const probeState = { stop: false }
let probed = 0

function probeOnce (): Promise<{ ms: number | string, at: number, connected: number, dialed: number, subject: string }> {
  const slot = { i: probed, subject: `probe-${probed}`, tenant: 't0', minted: 0 }
  probed++
  const token = tokenFor(slot)
  return new Promise((resolve) => {
    const started = performance.now()
    const at = performance.timeOrigin + started
    let connected = Number.NaN
    let dialed = Number.NaN
    const ws = open('t0', token, () => { connected = performance.timeOrigin + performance.now() }, () => { dialed = performance.timeOrigin + performance.now() })
    let ms: number | string = 'no-open'
    ws.on('unexpected-response', (req, res) => { res.resume(); req.destroy(); resolve({ ms: String(res.statusCode), at, connected, dialed, subject: slot.subject }) })
    ws.on('error', () => { ms = 'socket-error' })
    ws.on('open', () => { ms = performance.now() - started; tally.opened++; ws.close(1000, 'probe') })
    ws.on('close', (code) => { if (typeof ms === 'number') bump(tally.closedByCode, code); resolve({ ms, at, connected, dialed, subject: slot.subject }) })
  })
}

async function probeRun (count: number, intervalMs: number): Promise<Extract<ClientMessage, { type: 'latencies' }>> {
  const ms: number[] = []
  const at: number[] = []
  const subjects: string[] = []
  const connected: number[] = []
  const dialed: number[] = []
  const failed: Record<string, number> = {}
  for (let k = 0; k < count && !probeState.stop; k++) {
    const next = Date.now() + intervalMs
    const r = await probeOnce()
    if (typeof r.ms === 'string') bump(failed, r.ms)
    else {
      ms.push(r.ms)
      at.push(r.at)
      subjects.push(r.subject)
      connected.push(r.connected)
      dialed.push(r.dialed)
    }
    const wait = next - Date.now()
    if (wait > 0) await sleep(wait)
  }
  return { type: 'latencies', ms, at, connected, dialed, subjects, failed }
}

function send (m: ClientMessage): void { process.send?.(m) }

function crash (err: unknown): void {
  console.error('soak client:', err)
  process.exit(1)
}

let probing: Promise<ClientMessage> | undefined
process.on('message', (c: Command) => {
  if (c.type === 'ramp') ramp(c.plan).catch(crash)
  else if (c.type === 'quiesce') quiesce(c.timeoutMs).then((pending) => send({ type: 'quiesced', pending }), crash)
  else if (c.type === 'report') report(c.timeoutMs).then((t) => send({ type: 'report', tally: t }), crash)
  else if (c.type === 'unloaded') {
    plan = c.plan
    key = signingKey(c.plan)
    probeRun(c.warmup, 0).then(async (warm) => {
      const run = await probeRun(c.count, c.intervalMs)
      return { ...run, failed: { ...warm.failed, ...run.failed } } // a refusal in the warm-up counts too
    }).then(send, crash)
  } else if (c.type === 'probe') probing = probeRun(c.maxCount, c.intervalMs)
  else if (c.type === 'probe-stop') {
    probeState.stop = true
    probing?.then(send, crash)
  }
})
process.on('disconnect', () => process.exit(0))
send({ type: 'ready' })
