import t, { type Test } from 'tap'
import { request } from 'node:http'
import { connect as tcpConnect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import { channel, ChannelName, sendRejection, type HandshakeRejectedMessage } from '@wsguard/core'
import { claimsFor, FakeClock, generateKey, jwks, mintToken, until } from '@wsguard/testing'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { authHandshake, REFUSAL_CLOSE_TIMEOUT_MS, MemoryTicketStore, type AuthHandshakeOptions } from '../src/index.js'
import { buildApp } from './helpers.js'
import { askTicket, scriptedStore, ticketOf } from './ticket-helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const ORIGIN = 'https://app.test'
const key = generateKey('ES256')
const issuer = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }
const clock = new FakeClock()
const token = (lifetimeS = 300, at = clock.now()): string => mintToken(key, { ...claimsFor(ISS, AUD, 'alice', at, lifetimeS), scope: 'feed:read' })

interface Outcome {
  /** the HTTP status of a refusal answered in HTTP; 101 when the upgrade was accepted */
  status: number
  protocol?: string
  close?: { code: number, reason: string }
  messages: string[]
}

/** Opens a socket and reports how it ended: an HTTP refusal, or an accepted upgrade and its close. */
function attempt (t: Test, url: string, options: { headers?: Record<string, string>, protocols?: string[], origin?: string } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers ?? {}, ...(options.origin !== undefined ? { origin: options.origin } : {}) })
    t.teardown(() => ws.terminate())
    const outcome: Outcome = { status: 0, messages: [] }
    ws.on('upgrade', (res) => { outcome.status = res.statusCode as number })
    ws.on('open', () => { outcome.protocol = ws.protocol })
    // An accepted socket is closed by the client after the app's first frame.
    ws.on('message', (data) => { outcome.messages.push(String(data)); ws.close() })
    ws.on('close', (code, reason) => { outcome.close = { code, reason: String(reason) }; resolve(outcome) })
    ws.on('unexpected-response', (_req, res) => { outcome.status = res.statusCode as number; res.resume(); resolve(outcome) })
    ws.on('error', reject)
  })
}

async function app (t: Test, extra: Partial<AuthHandshakeOptions> = {}) {
  const handled: string[] = []
  const responses: number[] = []
  const sockets: Socket[] = []
  const built = await buildApp(t, { jwt: issuer, browserRejection: 'close', clock, ...extra }, {
    before: async (app) => {
      app.addHook('onResponse', async (request, reply) => { if (request.ws) responses.push(reply.statusCode) })
      app.addHook('onRequest', async (request) => { sockets.push(request.raw.socket) })
    },
    routes: (app) => {
      app.get('/guarded', {
        websocket: true,
        // Another plugin's refusal, after auth-handshake admitted the handshake (as topic-authz's would be).
        preValidation: (request, reply, done) => { if (request.headers['x-refuse'] !== undefined) return sendRejection(reply, 'WSG_TOPIC_DENIED'); done() }
      }, (socket) => { handled.push('guarded'); socket.send('hello') })
    }
  })
  const refused: HandshakeRejectedMessage[] = []
  const onRefused = (m: HandshakeRejectedMessage): void => { refused.push(m) }
  channel(ChannelName.handshakeRejected).subscribe(onRefused)
  t.teardown(() => { channel(ChannelName.handshakeRejected).unsubscribe(onRefused) })
  return { ...built, handled, responses, refused, sockets }
}

t.test('a browser\'s refused upgrade is accepted and closed at once with the 44xx code and the WSG_ code as reason', async (t) => {
  const { url, handled, responses, refused } = await app(t)
  const expired = token(60, clock.now() - 3_600_000)
  const r = await attempt(t, `${url}/guarded`, { origin: ORIGIN, protocols: ['app.v1', `bearer.${expired}`] })
  t.same(r, { status: 101, protocol: 'app.v1', close: { code: 4401, reason: 'WSG_TOKEN_EXPIRED' }, messages: [] }, 'no frame but the close; the app protocol selected, never the token')
  const forbidden = await attempt(t, `${url}/guarded`, { origin: ORIGIN, headers: { authorization: `Bearer ${token()}`, 'x-refuse': '1' } })
  t.same(forbidden.close, { code: 4403, reason: 'WSG_TOPIC_DENIED' }, 'whichever plugin refused')
  const missing = await attempt(t, `${url}/guarded`, { origin: ORIGIN })
  t.same(missing.close, { code: 4401, reason: 'WSG_CREDENTIAL_MISSING' })
  t.same(handled, [], 'the app\'s handler was never called')
  await until(() => responses.length === 3, 'every refusal finished its reply')
  t.same(responses, [401, 403, 401], 'onResponse hooks see the refusal\'s status')
  t.match(refused, [{ code: 'WSG_TOKEN_EXPIRED', statusCode: 401, origin: ORIGIN }, { code: 'WSG_CREDENTIAL_MISSING' }], 'published as any refusal (the app\'s own hook published nothing)')

  const accepted = await attempt(t, `${url}/guarded`, { origin: ORIGIN, headers: { authorization: `Bearer ${token()}` } })
  t.same([accepted.status, accepted.messages], [101, ['hello']], 'an admitted upgrade is untouched')
})

t.test('without Origin (no browser), the HTTP answer', async (t) => {
  const { url, responses } = await app(t)
  const r = await attempt(t, `${url}/guarded`, { headers: { authorization: 'Bearer x.y.z' } })
  t.same(r, { status: 401, messages: [] })
  await until(() => responses.length === 1, 'finished')
})

t.test('503 closes with 1013 (try again later); 429 and 400 with 4429 and 4400', async (t) => {
  const store = scriptedStore(new MemoryTicketStore({ clock }), { consume: () => { throw new Error('down') } })
  const { url } = await app(t, { carriers: ['header', 'ticket'], tickets: { store } })
  const ticket = ticketOf(await askTicket(url, { path: '/guarded' }, { authorization: `Bearer ${token()}`, origin: ORIGIN }))
  t.same((await attempt(t, `${url}/guarded?ticket=${ticket}`, { origin: ORIGIN })).close, { code: 1013, reason: 'WSG_UNAVAILABLE retry-after=30' }, 'the Retry-After of the HTTP answer in the reason')
  t.same((await attempt(t, `${url}/guarded?ticket=${ticket}`, { origin: ORIGIN, headers: { authorization: `Bearer ${token()}` } })).close, { code: 4400, reason: 'WSG_AMBIGUOUS_CREDENTIAL' })
})

t.test('a ticket entry is never echoed in the 101 of a refusal, and a lone one leaves no protocol to select', async (t) => {
  const { url } = await app(t, { carriers: ['header', 'subprotocol', 'ticket'], tickets: {} })
  const r = await attempt(t, `${url}/guarded`, { origin: ORIGIN, protocols: ['app.v1', 'ticket.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] })
  t.same([r.protocol, r.close], ['app.v1', { code: 4401, reason: 'WSG_TICKET_INVALID' }])
  // ws, like a browser, fails a connection whose server selected none of the protocols offered.
  await t.rejects(attempt(t, `${url}/guarded`, { origin: ORIGIN, protocols: ['ticket.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] }), { message: /Server sent no subprotocol/ })
})

t.test('a client gone before its refusal is delivered (reset, or half-closed): nothing is sent, the reply still finishes', async (t) => {
  const answers: Array<(value: undefined) => void> = []
  const store = scriptedStore(new MemoryTicketStore({ clock }), { consume: () => new Promise((resolve) => { answers.push(resolve) }) })
  const { url, responses, refused, sockets } = await app(t, { carriers: ['header', 'ticket'], tickets: { store } })
  const { port } = new URL(url.replace('ws', 'http'))
  for (const [i, leave] of [(s: Socket) => s.resetAndDestroy(), (s: Socket) => s.end()].entries()) {
    const socket = tcpConnect(Number(port), '127.0.0.1')
    t.teardown(() => socket.destroy())
    await new Promise<void>((resolve) => socket.on('connect', resolve))
    socket.write(`GET /guarded?ticket=${'A'.repeat(43)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: ${ORIGIN}\r\n\r\n`)
    await until(() => answers.length === i + 1, 'the ticket is being looked up')
    leave(socket)
    // A reset destroys the server's socket; a FIN leaves it half-open (not readable) until the upgrade is tried.
    await until(() => sockets[i]?.destroyed === true || sockets[i]?.readable === false, 'the server saw the client go')
    ;(answers[i] as (value: undefined) => void)(undefined)
    await until(() => responses.length === i + 1, 'the reply finished')
  }
  t.same(responses, [401, 401])
  t.match(refused, [{ code: 'WSG_TICKET_INVALID' }, { code: 'WSG_TICKET_INVALID' }])
})

t.test('a refused client that never answers the close frame is cut off after REFUSAL_CLOSE_TIMEOUT_MS', async (t) => {
  const { url, responses } = await app(t)
  const { port } = new URL(url.replace('ws', 'http'))
  const socket = tcpConnect(Number(port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  const received: Buffer[] = []
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  await new Promise<void>((resolve) => socket.on('connect', resolve))
  const started = Date.now()
  socket.write(`GET /guarded HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: ${ORIGIN}\r\n\r\n`)
  await new Promise<void>((resolve) => socket.on('close', resolve))
  const elapsed = Date.now() - started
  const text = Buffer.concat(received).toString('latin1')
  t.match(text, /^HTTP\/1\.1 101 Switching Protocols/)
  t.ok(text.endsWith(`\x88${String.fromCharCode(2 + 'WSG_CREDENTIAL_MISSING'.length)}\x11\x31WSG_CREDENTIAL_MISSING`), 'one frame: close 4401 WSG_CREDENTIAL_MISSING')
  t.ok(elapsed >= REFUSAL_CLOSE_TIMEOUT_MS - 100, `cut off after ${elapsed} ms`)
  await until(() => responses.length === 1, 'the reply finished')
})

/** A raw client: sends an upgrade with the Origin and no credential, resolves once the 101 and the close frame are in. */
async function refusedRaw (t: Test, url: string): Promise<{ socket: Socket, received: Buffer[], closed: Promise<void> }> {
  const { port } = new URL(url.replace('ws', 'http'))
  const socket = tcpConnect(Number(port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  const received: Buffer[] = []
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  await new Promise<void>((resolve) => socket.on('connect', resolve))
  socket.write(`GET /guarded HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: ${ORIGIN}\r\n\r\n`)
  await until(() => Buffer.concat(received).includes('WSG_CREDENTIAL_MISSING'), 'the 101 and the close frame')
  return { socket, received, closed }
}

/** A masked client frame header: `opcode`, declaring `length` bytes of payload (64-bit length). */
function frameHeader (opcode: number, length: number, masked = true): Buffer {
  const header = Buffer.alloc(masked ? 14 : 10)
  header[0] = 0x80 | opcode
  header[1] = (masked ? 0x80 : 0) | 127
  header.writeBigUInt64BE(BigInt(length), 2)
  return header
}

t.test('a refused socket reads no more than a control frame: a client with no credential cannot make the server buffer a data frame', async (t) => {
  const { url, app: fastify, responses } = await app(t)
  const { socket, closed } = await refusedRaw(t, url)
  t.equal(fastify.websocketServer.clients.size, 0, 'the refused socket is not among the app\'s clients')
  // A frame declaring 100 MB (under ws's default maxPayload of 100 MiB): the refusal's server
  // reads at most REFUSAL_MAX_PAYLOAD a message, so it stops reading at once.
  socket.write(frameHeader(0x2, 100_000_000))
  const chunk = Buffer.alloc(65_536)
  for (let i = 0; i < 16 && !socket.destroyed; i++) socket.write(chunk)
  const started = Date.now()
  await closed
  t.ok(Date.now() - started < REFUSAL_CLOSE_TIMEOUT_MS + 1_000, 'the socket ended')
  await until(() => responses.length === 1, 'the reply finished')
  t.same(responses, [401])
})

t.test('garbage after a refusal (an unmasked frame) ends that socket, and the server keeps answering', async (t) => {
  const { url, responses } = await app(t)
  const { socket, closed } = await refusedRaw(t, url)
  socket.write(Buffer.concat([frameHeader(0x1, 4, false), Buffer.from('oops')]))
  await closed
  await until(() => responses.length === 1, 'the reply finished')
  const again = await attempt(t, `${url}/guarded`, { origin: ORIGIN, headers: { authorization: `Bearer ${token()}` } })
  t.same([again.status, again.messages], [101, ['hello']], 'the server is still up')
})

t.test('closing the app cuts off a refused client still waiting to answer the close', async (t) => {
  const { url, app: fastify } = await app(t)
  const { closed } = await refusedRaw(t, url)
  const started = Date.now()
  await fastify.close()
  await closed
  t.ok(Date.now() - started < REFUSAL_CLOSE_TIMEOUT_MS, 'cut off by the close, not by the timeout')
})

t.test('a refusal decided after the app began closing gets ws\'s 503, not a 101, and does not hold the close', async (t) => {
  const answers: Array<(value: undefined) => void> = []
  const store = scriptedStore(new MemoryTicketStore({ clock }), { consume: () => new Promise((resolve) => { answers.push(resolve) }) })
  const { url, app: fastify } = await app(t, { carriers: ['header', 'ticket'], tickets: { store } })
  const { port } = new URL(url.replace('ws', 'http'))
  const socket = tcpConnect(Number(port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  await new Promise<void>((resolve) => socket.on('connect', resolve))
  socket.write(`GET /guarded?ticket=${'A'.repeat(43)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: ${ORIGIN}\r\n\r\n`)
  await until(() => answers.length === 1, 'the ticket is being looked up')
  const started = Date.now()
  const closing = fastify.close()
  // The server stops listening once every preClose hook has run.
  await until(() => !fastify.server.listening, 'the app is closing')
  ;(answers[0] as (value: undefined) => void)(undefined)
  await closed
  await closing
  t.match(received, /^HTTP\/1\.1 503 /, 'no upgrade once closing')
  t.ok(Date.now() - started < REFUSAL_CLOSE_TIMEOUT_MS, 'the close did not wait for the refusal\'s cut-off')
})

t.test('a refusal\'s 101 selects the subprotocol as the app\'s websocket server would (its handleProtocols)', async (t) => {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  // The app's choice: the last protocol offered (ws's default is the first).
  await fastify.register(websocket, { options: { handleProtocols: (offered: Set<string>) => [...offered].at(-1) ?? false } })
  await fastify.register(authHandshake, { jwt: issuer, browserRejection: 'close', clock })
  fastify.get('/guarded', { websocket: true }, (socket) => { socket.send('hello') })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/guarded`
  const r = await attempt(t, url, { origin: ORIGIN, protocols: ['app.v1', 'app.v2'] })
  t.same([r.protocol, r.close], ['app.v2', { code: 4401, reason: 'WSG_CREDENTIAL_MISSING' }])
})

t.test('HEAD upgrades and requests without a socket (injectWS) are answered in HTTP', async (t) => {
  const { app: fastify } = await app(t)
  const { port } = fastify.server.address() as AddressInfo
  const head = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/guarded', method: 'HEAD', headers: { origin: ORIGIN, upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode as number) })
    req.on('upgrade', () => { reject(new Error('upgraded')) })
    req.on('error', reject)
    req.end()
  })
  t.equal(head, 404, 'a HEAD upgrade is no handshake')
  await t.rejects(fastify.injectWS('/guarded', { headers: { origin: ORIGIN } }), { message: 'Unexpected server response: 401' })
})
