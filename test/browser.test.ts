// A real browser against auth-handshake and session-expiry: what a browser can send (a
// subprotocol, a cookie), what it sees (the selected subprotocol, close codes and reasons, or
// only a failed connection), and cross-site WebSocket hijacking refused by Origin; with
// browserRejection: 'close', the refusal's code and reason; and one-time tickets.
import type { AddressInfo } from 'node:net'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { appIdentity, channel, ChannelName, requirePrincipal, type HandshakeRejectedMessage } from '@wsguard/core'
import { claimsFor, FakeClock, generateKey, jwks, mintToken, until } from '@wsguard/testing'
import { launch, openInPage, pageAt, pageServer } from './browser.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')

interface Api {
  app: FastifyInstance
  url: string
  clock: FakeClock
  token: (sub: string, lifetimeS?: number) => string
  /** refusals this app published, in order */
  refused: HandshakeRejectedMessage[]
  /** whether each handshake on /feed arrived with a Cookie header (never its value) */
  cookieSent: boolean[]
  /** pongs the app's sockets received */
  pongs: () => number
}

/** The API: tokens by subprotocol or cookie, only `allowed` origins, sessions on a fake clock. */
async function api (allowed: string, heartbeatMs = 0): Promise<Api> {
  const clock = new FakeClock(Date.now())
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, {
    jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) },
    carriers: ['subprotocol', 'cookie'],
    allowedOrigins: [allowed],
    clock
  })
  await app.register(sessionExpiry, { clock, noticeMs: 10_000, graceMs: 0, heartbeatMs, idleTimeoutMs: 0 })
  let pongs = 0
  const cookieSent: boolean[] = []
  app.addHook('onRequest', async (request) => { if (request.url === '/feed') cookieSent.push(request.headers.cookie !== undefined) })
  app.get('/feed', { websocket: true }, (socket, request) => {
    const { id, method } = requirePrincipal(request)
    socket.send(JSON.stringify({ hello: id, method }))
    socket.on('message', (raw) => socket.send(`echo ${String(raw)}`))
    socket.on('pong', () => { pongs++ })
  })
  const refused: HandshakeRejectedMessage[] = []
  const mine = appIdentity(app)
  const onRefused = (m: HandshakeRejectedMessage): void => { if (m.app === mine) refused.push(m) }
  channel(ChannelName.handshakeRejected).subscribe(onRefused)
  t.teardown(() => { channel(ChannelName.handshakeRejected).unsubscribe(onRefused) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`,
    clock,
    token: (sub, lifetimeS = 3600) => mintToken(key, claimsFor(ISS, AUD, sub, clock.now(), lifetimeS)),
    refused,
    cookieSent,
    pongs: () => pongs
  }
}

t.test('without Chromium the browser tests fail, they are not skipped', async (t) => {
  await t.rejects(launch(t, '/nonexistent/chromium'), { message: /no Chromium at \/nonexistent\/chromium: apt-get install -y chromium/ })
})

const browser = await launch(t)
const origin = await pageServer(t)
const server = await api(origin)

t.test('the subprotocol carrier: the token beside the app protocol, which is the one selected', async (t) => {
  const page = await pageAt(t, browser, origin)
  const r = await openInPage(page, { url: server.url, protocols: ['feed.v1', `bearer.${server.token('alice')}`], closeAfter: 1 })
  t.equal(r.opened, true)
  t.equal(r.protocol, 'feed.v1', 'the server selected the app protocol, never the token entry')
  t.same(r.messages.map((m) => JSON.parse(m) as unknown), [{ hello: 'alice', method: 'jwt' }])
  t.same(r.close, { code: 1000, reason: 'done' })
})

t.test('a lone bearer entry: the server selects no protocol, so the browser fails the connection (as documented)', async (t) => {
  const page = await pageAt(t, browser, origin)
  const r = await openInPage(page, { url: server.url, protocols: [`bearer.${server.token('alice')}`] })
  t.equal(r.opened, false)
  t.equal(r.close.code, 1006)
})

t.test('a refused handshake is a failed connection to the page; the reason is on the server', async (t) => {
  const page = await pageAt(t, browser, origin)
  const before = server.refused.length
  const expired = mintToken(key, claimsFor(ISS, AUD, 'alice', server.clock.now() - 7_200_000, 60))
  const r = await openInPage(page, { url: server.url, protocols: ['feed.v1', `bearer.${expired}`] })
  t.same([r.opened, r.close.code], [false, 1006])
  t.match(server.refused.slice(before), [{ code: 'WSG_TOKEN_EXPIRED', statusCode: 401, origin }])
  t.equal(server.refused.length, before + 1, 'one refusal')
})

t.test('the cookie carrier, from the allowed origin', async (t) => {
  const page = await pageAt(t, browser, origin)
  await page.context().addCookies([{ name: 'access_token', value: server.token('carol'), url: origin, sameSite: 'Lax' }])
  const r = await openInPage(page, { url: server.url, closeAfter: 1 })
  t.equal(r.opened, true)
  t.same(JSON.parse(r.messages[0] as string), { hello: 'carol', method: 'jwt' })
})

t.test('cross-site WebSocket hijacking: another origin on the same host gets the cookie sent, and is refused', async (t) => {
  const evil = await pageServer(t)
  const victim = await pageAt(t, browser, origin)
  await victim.context().addCookies([{ name: 'access_token', value: server.token('dave'), url: origin, sameSite: 'Lax' }])
  // The attacker's page shares the victim's browser context: the victim's cookie jar.
  const attacker = await victim.context().newPage()
  await attacker.goto(`${evil}/`)
  const before = server.refused.length
  const sentBefore = server.cookieSent.length
  const r = await openInPage(attacker, { url: server.url })
  t.same([r.opened, r.close.code], [false, 1006])
  t.same(server.cookieSent.slice(sentBefore), [true], 'the browser did attach the cookie: the attack was real')
  t.match(server.refused.slice(before), [{ code: 'WSG_ORIGIN_DENIED', statusCode: 403, origin: evil }])
  t.equal(server.refused.length, before + 1, 'one refusal')
})

t.test('expiry reaches the page as close 4401 with its reason; an in-band refresh moves it', async (t) => {
  const page = await pageAt(t, browser, origin)
  const refreshed = server.token('erin', 600)
  const first = server.token('erin', 60)
  const sessions = server.app.wsSessions.size
  // Refresh once, right after the hello; the socket then stays open until the server closes it.
  const report = openInPage(page, { url: server.url, protocols: ['feed.v1', `bearer.${first}`], send: [JSON.stringify({ type: 'auth.refresh', token: refreshed })] })
  await until(() => server.app.wsSessions.size === sessions + 1, 'the session is open')
  const erin = async (): Promise<Array<{ expiresAt?: number }>> => [...await server.app.wsSessions.list({ subject: 'erin' })]
  await until(async () => ((await erin())[0]?.expiresAt ?? 0) > server.clock.now() + 60_000, 'the refresh took')
  server.clock.advance(61_000)
  t.equal((await erin()).length, 1, 'past the first token\'s expiry, still open: the refresh moved it')
  server.clock.advance(600_000)
  const r = await report
  t.match(r.messages.map((m) => JSON.parse(m) as Record<string, unknown>), [{ hello: 'erin' }, { type: 'auth.refreshed' }, { type: 'auth.expiring' }])
  t.equal(r.messages.length, 3, 'nothing else reached the page')
  t.same(r.close, { code: 4401, reason: 'credential expired' }, 'the page sees the close code and reason')
})

t.test('the heartbeat: the browser echoes each ping\'s random tag, so its socket stays open', async (t) => {
  const beating = await api(origin, 1_000)
  const page = await pageAt(t, browser, origin)
  const report = openInPage(page, { url: beating.url, protocols: ['feed.v1', `bearer.${beating.token('frank', 8)}`] })
  await until(() => beating.app.wsSessions.size === 1, 'the session is open')
  // Two missed pongs in a row end a session (1006 to the page); seven heartbeats, each answered before the next.
  for (let beat = 1; beat <= 7; beat++) {
    beating.clock.advance(1_000)
    await until(() => beating.pongs() >= beat, `pong ${beat} received`)
  }
  t.equal(beating.app.wsSessions.size, 1, 'open after seven heartbeats')
  beating.clock.advance(1_000)
  t.same((await report).close, { code: 4401, reason: 'credential expired' }, 'it ended at its expiry, not at a heartbeat')
})

/**
 * The API with `browserRejection: 'close'` and tickets, serving its own page (so the page's
 * fetch of a ticket is same-origin): `/feed` for any token, `/admin` for the `admin` scope.
 */
async function closingApi (): Promise<{ origin: string, token: (sub: string, lifetimeS?: number, at?: number) => string, refused: HandshakeRejectedMessage[] }> {
  const app = Fastify()
  t.teardown(() => app.close())
  let origin = ''
  await app.register(websocket)
  await app.register(authHandshake, {
    jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) },
    carriers: ['header', 'subprotocol', 'ticket'],
    allowedOrigins: (o) => o === origin,
    tickets: {},
    browserRejection: 'close'
  })
  app.get('/', async (_request, reply) => await reply.type('text/html').send('<!doctype html><title>wsguard api</title>'))
  const hello = (socket: import('ws').WebSocket, request: import('fastify').FastifyRequest): void => {
    const { id, method } = requirePrincipal(request)
    socket.send(JSON.stringify({ hello: id, method }))
  }
  app.get('/feed', { websocket: true }, hello)
  app.get('/admin', { websocket: true, config: { auth: { scopes: ['admin'] } } }, hello)
  const refused: HandshakeRejectedMessage[] = []
  const mine = appIdentity(app)
  const onRefused = (m: HandshakeRejectedMessage): void => { if (m.app === mine) refused.push(m) }
  channel(ChannelName.handshakeRejected).subscribe(onRefused)
  t.teardown(() => { channel(ChannelName.handshakeRejected).unsubscribe(onRefused) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return { origin, token: (sub, lifetimeS = 3600, at = Date.now()) => mintToken(key, claimsFor(ISS, AUD, sub, at, lifetimeS)), refused }
}

const closing = await closingApi()
const wsUrl = (path: string): string => `${closing.origin.replace('http', 'ws')}${path}`

t.test('browserRejection close: the page reads why it was refused, 4401 expired apart from 4403 forbidden', async (t) => {
  const page = await pageAt(t, browser, closing.origin)
  const expired = closing.token('alice', 60, Date.now() - 7_200_000)
  const r1 = await openInPage(page, { url: wsUrl('/feed'), protocols: ['feed.v1', `bearer.${expired}`] })
  t.same([r1.opened, r1.close, r1.messages], [true, { code: 4401, reason: 'WSG_TOKEN_EXPIRED' }, []], 'accepted only to close: no frame but the close')
  t.equal(r1.protocol, 'feed.v1', 'the app protocol selected, never the token')
  const r2 = await openInPage(page, { url: wsUrl('/admin'), protocols: ['feed.v1', `bearer.${closing.token('alice')}`] })
  t.same(r2.close, { code: 4403, reason: 'WSG_INSUFFICIENT_SCOPE' })
  const evil = await pageServer(t)
  const attacker = await pageAt(t, browser, evil)
  const r3 = await openInPage(attacker, { url: wsUrl('/feed'), protocols: ['feed.v1', `bearer.${closing.token('alice')}`] })
  t.same(r3.close, { code: 4403, reason: 'WSG_ORIGIN_DENIED' }, 'a page from another origin is refused, and told so')
  const ok = await openInPage(page, { url: wsUrl('/feed'), protocols: ['feed.v1', `bearer.${closing.token('alice')}`], closeAfter: 1 })
  t.same([ok.messages, ok.close], [[JSON.stringify({ hello: 'alice', method: 'jwt' })], { code: 1000, reason: 'done' }], 'an admitted socket is untouched')
})

t.test('a ticket: the page asks for it with its token, opens the socket with it once; the replay is refused', async (t) => {
  const page = await pageAt(t, browser, closing.origin)
  const before = closing.refused.length
  // The function below runs in the page, not in Node, so Node's coverage cannot see it run.
  /* c8 ignore start */
  const answer = await page.evaluate(async (accessToken) => {
    const res = await fetch('/ws-ticket', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` }, body: JSON.stringify({ path: '/feed' }) })
    return { status: res.status, cache: res.headers.get('cache-control'), body: await res.json() as { ticket: string, expiresAt: number } }
  }, closing.token('alice'))
  /* c8 ignore stop */
  t.same([answer.status, answer.cache], [200, 'no-store'])
  const { ticket } = answer.body
  const first = await openInPage(page, { url: wsUrl('/feed'), protocols: ['feed.v1', `ticket.${ticket}`], closeAfter: 1 })
  t.same([first.opened, first.protocol, first.messages], [true, 'feed.v1', [JSON.stringify({ hello: 'alice', method: 'ticket' })]])
  const replay = await openInPage(page, { url: wsUrl('/feed'), protocols: ['feed.v1', `ticket.${ticket}`] })
  t.same(replay.close, { code: 4401, reason: 'WSG_TICKET_INVALID' }, 'used once; the page is told')
  const byQuery = await openInPage(page, { url: wsUrl(`/feed?ticket=${ticket}`) })
  t.same(byQuery.close, { code: 4401, reason: 'WSG_TICKET_INVALID' }, 'in the query too')
  t.match(closing.refused.slice(before), [{ code: 'WSG_TICKET_INVALID', detail: 'ticket-unknown', origin: closing.origin }, { code: 'WSG_TICKET_INVALID' }])
})
