// The Node build against a real server: Fastify with @wsguard/auth-handshake and
// @wsguard/session-expiry, tokens signed here, one fake clock for server and client.
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { authHandshake, requirePrincipal } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { claimsFor, FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'
import { connect, credentialWebSocket, DEFAULT_STABLE_AFTER_MS, type GetToken, type TokenReason } from '../src/node.js'
import { recorder } from './helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const LIFETIME_S = 120
const NOTICE_MS = 30_000

interface Api {
  app: FastifyInstance
  url: string
  clock: FakeClock
  /** every handshake the route accepted: subject and session id */
  sessions: Array<{ sub: string, sessionId: string }>
  /** refreshes session-expiry reported, by session id */
  refreshed: string[]
  token: (sub: string) => string
}

async function api (t: Test): Promise<Api> {
  const clock = new FakeClock(Date.now())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) }, carriers: ['subprotocol'], clock })
  await app.register(sessionExpiry, { clock, noticeMs: NOTICE_MS, graceMs: 0, heartbeatMs: 0, idleTimeoutMs: 0, closeTimeoutMs: 1_000 })
  const result: Api = {
    app,
    url: '',
    clock,
    sessions: [],
    refreshed: [],
    token: (sub) => mintToken(key, claimsFor(ISS, AUD, sub, clock.now(), LIFETIME_S))
  }
  app.get('/feed', { websocket: true }, (socket, request) => {
    const { id } = requirePrincipal(request)
    result.sessions.push({ sub: id, sessionId: request.wsSession.id })
    request.wsSession.on('refreshed', () => result.refreshed.push(request.wsSession.id))
    socket.on('message', (raw) => socket.send(`echo ${String(raw)}`))
    socket.send(`hello ${id}`)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  result.url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`
  return result
}

/** A getToken that mints a fresh token for `sub` on the server's clock and records why it was asked. */
function tokens (server: Api, sub: string): { getToken: GetToken, reasons: TokenReason[] } {
  const reasons: TokenReason[] = []
  return { reasons, getToken: ({ reason }) => { reasons.push(reason); return server.token(sub) } }
}

t.test('connects with the bearer entry; the server selects the app protocol', async (t) => {
  const server = await api(t)
  const r = recorder()
  const messages: unknown[] = []
  let echoed: () => void = () => {}
  const twoMessages = new Promise<void>((resolve) => { echoed = resolve })
  const { getToken } = tokens(server, 'alice')
  const client = connect({
    url: server.url,
    protocols: ['feed.v1'],
    getToken,
    clock: server.clock,
    onEvent: r.onEvent,
    onMessage: (m) => { if (messages.push(m) === 2) echoed() }
  })
  t.teardown(() => { client.close() })
  t.same(await r.next('connected'), { type: 'connected', protocol: 'feed.v1' })
  t.equal(client.send('ping'), true)
  await twoMessages
  t.same(messages, ['hello alice', 'echo ping'])
  t.same(server.sessions.map((s) => s.sub), ['alice'])
})

t.test('auth.expiring is answered in-band: a new token on the same socket, auth.refreshed, no new handshake', async (t) => {
  const server = await api(t)
  const r = recorder()
  const alice = tokens(server, 'alice')
  const client = connect({ url: server.url, protocols: ['feed.v1'], getToken: alice.getToken, clock: server.clock, onEvent: r.onEvent })
  t.teardown(() => { client.close() })
  await r.next('connected')
  const expiring = r.next('expiring')
  const refreshed = r.next('refreshed')
  server.clock.advance(LIFETIME_S * 1_000 - NOTICE_MS)
  const notice = await expiring
  t.type(notice.expiresAt, 'number')
  const done = await refreshed
  t.ok((done.expiresAt as number) > (notice.expiresAt as number), 'the expiry moved forward')
  t.same(alice.reasons, ['connect', 'refresh'])
  t.equal(server.sessions.length, 1, 'one handshake only')
  t.same(server.refreshed, [server.sessions[0]?.sessionId], 'the refresh replaced the credential of the same session')
  t.same(r.events.map((e) => e.type), ['connecting', 'connected', 'expiring', 'refreshed'])
})

t.test('4401 when the refresh never came: a fresh token ("expired"), then a new socket', async (t) => {
  const server = await api(t)
  const r = recorder()
  const reasons: TokenReason[] = []
  const client = connect({
    url: server.url,
    protocols: ['feed.v1'],
    getToken: ({ reason }) => {
      reasons.push(reason)
      if (reason === 'refresh') throw new Error('the IdP is unreachable')
      return server.token('alice')
    },
    clock: server.clock,
    onEvent: r.onEvent
  })
  t.teardown(() => { client.close() })
  await r.next('connected')
  const closed = r.next('closed')
  const retrying = r.next('retrying')
  server.clock.advance(LIFETIME_S * 1_000)
  t.same(await closed, { type: 'closed', code: 4401, reason: 'credential expired' })
  const { delayMs } = await retrying
  t.ok(delayMs <= 1_000, `prompt after a stable socket: ${delayMs} ms`)
  const reconnected = r.next('connected')
  server.clock.advance(delayMs)
  await reconnected
  t.same(reasons, ['connect', 'refresh', 'expired'])
  t.equal(r.events.filter((e) => e.type === 'refresh-failed').length, 1)
  t.equal(server.sessions.length, 2)
})

t.test('revoked: 4403 stops the client and nothing retries', async (t) => {
  const server = await api(t)
  const r = recorder()
  const { getToken } = tokens(server, 'alice')
  const client = connect({ url: server.url, protocols: ['feed.v1'], getToken, clock: server.clock, onEvent: r.onEvent })
  t.teardown(() => { client.close() })
  await r.next('connected')
  server.clock.advance(DEFAULT_STABLE_AFTER_MS)
  const stopped = r.next('stopped')
  await server.app.wsSessions.revoke({ subject: 'alice' })
  t.same(await stopped, { type: 'stopped', cause: 'revoked', code: 4403, reason: 'access revoked' })
  t.equal(client.state, 'stopped')
  server.clock.advance(3_600_000)
  t.equal(server.sessions.length, 1)
  t.same(r.events.map((e) => e.type), ['connecting', 'connected', 'closed', 'stopped'])
})

t.test('credentialWebSocket on ws: the handshake carries the token, the app protocol is selected', async (t) => {
  const server = await api(t)
  const Authed = credentialWebSocket({ getToken: () => server.token('bob'), protocols: ['feed.v1'] })
  const ws = new Authed(server.url)
  t.teardown(() => { ws.close() })
  const first = await new Promise<string>((resolve) => { ws.onmessage = (event) => resolve(String(event.data)) })
  t.equal(first, 'hello bob')
  t.equal(ws.protocol, 'feed.v1')
})
