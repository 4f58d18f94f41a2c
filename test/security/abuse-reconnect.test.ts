// Refresh floods in a loop across connections: a client closed 4400 for flooding auth.refresh
// reconnects at once and floods again, from one address, in a process of its own. Per
// connection, session-expiry's refreshLimit bounds what a flood costs; across connections the
// per-IP storm gate (as telemetry's README sets it) bounds how many open: past it every attempt
// is refused 429 before any token work. What such a loop still costs other clients (an HTTP
// request per refused attempt) is measured in bench/README.md ("A reconnect loop refused by the
// per-IP gate") and left to a proxy in docs/THREAT-MODEL.md.
import { spawn } from 'node:child_process'
import t from 'tap'
import {
  appIdentity, channel, ChannelName, type HandshakeAuthenticatedMessage, type HandshakeRejectedMessage
} from '@wsguard/core'
import { until } from '@wsguard/testing'
import { ALLOWED_ORIGIN } from './carriers.js'
import { securityServer } from './server.js'
import { claims, ec, sign } from './tokens.js'

const LIMIT = { max: 5, windowMs: 60_000 }
const PER_IP = { max: 120, windowMs: 60_000 }
const FLOODER_ADDRESS = '127.0.0.2'
const ATTEMPTS = 400 // connection attempts, then the flooder stops and reports
const BATCH = 20 // frames per turn of the flooder's event loop
const MAX_FRAMES = 10_000 // per connection

/** One attempt of the flooder: refused (the status), or opened, frames sent, replies by code or type, the close. */
interface Attempt {
  status?: number
  sent: number
  replies: Record<string, number>
  close: { code: number, reason: string }
}

// Opens a socket from `localAddress` and sends `frames` round-robin, BATCH a turn, until the
// server closes it (or MAX_FRAMES); then at once tries again, `attempts` times in all, and
// reports every attempt.
const FLOODER = `
const WebSocket = require('ws')
const { url, token, origin, localAddress, frames, batch, maxFrames, attempts } = JSON.parse(process.argv[1])
const done = []
const attempt = () => {
  const ws = new WebSocket(url, { headers: { authorization: 'Bearer ' + token }, origin, localAddress })
  const a = { sent: 0, replies: {} }
  const pump = () => {
    if (a.sent >= maxFrames || ws.readyState !== WebSocket.OPEN) return
    for (let i = 0; i < batch; i++) ws.send(frames[a.sent++ % frames.length])
    setImmediate(pump)
  }
  ws.on('unexpected-response', (req, res) => {
    a.status = res.statusCode
    res.resume()
    ws.terminate()
  })
  ws.on('open', pump)
  ws.on('message', (data) => {
    const r = JSON.parse(String(data))
    const key = r.code ?? r.type
    a.replies[key] = (a.replies[key] ?? 0) + 1
  })
  ws.on('error', () => {}) // the close that follows says how it ended
  ws.on('close', (code, reason) => {
    done.push({ ...a, close: { code, reason: String(reason) } })
    if (done.length < attempts) return attempt()
    process.send(done)
    process.disconnect()
  })
}
attempt()
`

const refresh = (token: string): string => JSON.stringify({ type: 'auth.refresh', token })
const TOO_MANY = { code: 4400, reason: 'too many refresh messages' }

t.test('refresh floods reconnecting in a loop from one address: the per-IP gate opens 120, each closed 4400; the rest refused 429 before any token work', async (t) => {
  const server = await securityServer(t, {
    telemetry: { anomalies: { reconnectStorm: { perIp: PER_IP, perPrincipal: { max: 1_000_000, windowMs: 60_000 }, action: 'throttle' } } },
    session: { refreshLimit: LIMIT }
  })
  const app = appIdentity(server.app)
  const accepted: HandshakeAuthenticatedMessage[] = []
  const rejected: HandshakeRejectedMessage[] = []
  const onAccepted = (m: HandshakeAuthenticatedMessage): void => { if (m.app === app && m.remoteAddress === FLOODER_ADDRESS) accepted.push(m) }
  const onRejected = (m: HandshakeRejectedMessage): void => { if (m.app === app && m.remoteAddress === FLOODER_ADDRESS) rejected.push(m) }
  channel(ChannelName.handshakeAuthenticated).subscribe(onAccepted)
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => {
    channel(ChannelName.handshakeAuthenticated).unsubscribe(onAccepted)
    channel(ChannelName.handshakeRejected).unsubscribe(onRejected)
  })

  const now = server.clock.now()
  const token = sign(ec, claims(now))
  const frames = [refresh(sign(ec, claims(now, { exp: now / 1000 + 7200 })))]
  const settings = JSON.stringify({
    url: server.url(server.feed), token, origin: ALLOWED_ORIGIN, localAddress: FLOODER_ADDRESS, frames, batch: BATCH, maxFrames: MAX_FRAMES, attempts: ATTEMPTS
  })
  const child = spawn(process.execPath, ['-e', FLOODER, settings], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => { child.kill() })
  const reports: Attempt[][] = []
  child.on('message', (m) => reports.push(m as Attempt[]))
  await until(() => reports.length === 1, 'the flooder reported', { timeoutMs: 60_000 })
  const attempts = reports[0] as Attempt[]
  const opened = attempts.filter((a) => a.status === undefined)
  const refused = attempts.filter((a) => a.status !== undefined)
  const sent = opened.reduce((n, a) => n + a.sent, 0)
  t.comment(`${attempts.length} attempts: ${opened.length} opened (${sent} auth.refresh frames), ${refused.length} refused`)

  t.equal(attempts.length, ATTEMPTS)
  t.equal(opened.length, PER_IP.max, 'the per-IP gate let its limit open, no more')
  t.same(opened.filter((a) => a.close.code !== TOO_MANY.code || a.close.reason !== TOO_MANY.reason), [],
    'every opened connection was closed 4400 for its flood')
  t.same(opened.filter((a) => Object.values(a.replies).reduce((x, y) => x + y, 0) > LIMIT.max + 1), [],
    'replies per connection bounded by the refresh limit')
  t.same(refused.filter((a) => a.status !== 429), [], 'every other attempt was refused 429')

  // The server's side, from its own channels: the refusals came from the gate, with nothing verified.
  await until(() => rejected.length === refused.length, 'each refusal was published')
  t.equal(accepted.length, PER_IP.max, 'a token was verified only for the connections that opened')
  t.same(rejected.filter((m) => m.source !== '@wsguard/telemetry' || m.code !== 'WSG_RATE_LIMITED' || m.statusCode !== 429), [],
    'every refusal is the storm gate\'s WSG_RATE_LIMITED')
  t.same(rejected.filter((m) => m.principal !== undefined), [], 'no refusal carries a principal: no token was verified for it')
})
