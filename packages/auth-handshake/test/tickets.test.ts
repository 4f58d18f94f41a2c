import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { channel, ChannelName, type HandshakeRejectedMessage } from '@wsguard/core'
import { claimsFor, FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'
import { MemoryTicketStore, type AuthHandshakeOptions } from '../src/index.js'
import { buildApp, connect, type Attempt } from './helpers.js'
import { askTicket, scriptedStore, ticketOf } from './ticket-helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const ORIGIN = 'https://app.test'
const key = generateKey('ES256')
const issuer = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }

async function app (t: Test, extra: Partial<AuthHandshakeOptions> = {}) {
  const clock = new FakeClock()
  const store = scriptedStore(new MemoryTicketStore({ clock }))
  const built = await buildApp(t, { jwt: issuer, carriers: ['header', 'subprotocol', 'ticket'], tickets: { store }, clock, ...extra }, {
    routes: (app) => {
      app.get('/orders/:tenant', { websocket: true }, (socket, req) => { socket.send(JSON.stringify({ principal: req.principal, params: req.params })) })
    }
  })
  const token = (sub = 'alice', lifetimeS = 300): string => mintToken(key, { ...claimsFor(ISS, AUD, sub, clock.now(), lifetimeS), scope: 'feed:read' })
  const bearer = (sub?: string): Record<string, string> => ({ authorization: `Bearer ${token(sub)}`, origin: ORIGIN })
  return { ...built, clock, store, token, bearer }
}

const refusal = (res: Attempt): unknown => res.open ? 'opened' : [res.status, JSON.parse(res.body).code]

t.test('a Bearer token gets a ticket; the ticket opens its path once, as method ticket, never echoed', async (t) => {
  const { url, clock, bearer } = await app(t)
  const answer = await askTicket(url, { path: '/feed' }, bearer())
  t.equal(answer.status, 200)
  t.equal(answer.headers.get('cache-control'), 'no-store')
  t.match(answer.headers.get('content-type'), /^application\/json/)
  const ticket = ticketOf(answer)
  t.match(ticket, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url')
  t.same(Object.keys(answer.body).sort(), ['expiresAt', 'ticket'])
  t.equal(answer.body.expiresAt, clock.now() + 30_000, 'valid for 30 s by default')

  const opened = await connect(t, url, { origin: ORIGIN, protocols: ['app.v1', `ticket.${ticket}`] })
  t.equal(opened.open, true)
  if (opened.open) {
    t.match(opened.message.principal, { id: 'alice', method: 'ticket', issuer: ISS, scopes: ['feed:read'] })
    t.equal(opened.protocol, 'app.v1', 'the app protocol is selected, never the ticket entry')
    t.equal(opened.responseHeaders['sec-websocket-protocol'], 'app.v1')
  }
  const replayed = await connect(t, url, { origin: ORIGIN, protocols: ['app.v1', `ticket.${ticket}`] })
  t.same(refusal(replayed), [401, 'WSG_TICKET_INVALID'], 'a ticket is used once')
  t.equal(replayed.open ? undefined : replayed.headers['www-authenticate'], undefined, 'a ticket is no bearer token: no challenge')
})

t.test('the query carrier: ?ticket=, never logged', async (t) => {
  const { url, logs, bearer } = await app(t)
  const ticket = ticketOf(await askTicket(url, { path: '/feed' }, bearer()))
  const res = await connect(t, url, { origin: ORIGIN, path: `/feed?ticket=${ticket}` })
  t.match(res, { open: true, message: { principal: { id: 'alice', method: 'ticket' } } })
  t.match(logs.text(), /ticket=\[REDACTED\]/, 'the URL is logged redacted')
  t.notOk(logs.text().includes(ticket), 'the ticket appears in no log line')
})

t.test('refused 401 WSG_TICKET_INVALID: unknown, malformed, expired, another path, another Origin; a wrong try uses it up', async (t) => {
  const { app: fastify, url, clock, store, bearer } = await app(t)
  const details: Array<string | undefined> = []
  const onRefused = (m: HandshakeRejectedMessage): void => { details.push(m.detail) }
  channel(ChannelName.handshakeRejected).subscribe(onRefused)
  t.teardown(() => { channel(ChannelName.handshakeRejected).unsubscribe(onRefused) })
  const use = async (ticket: string, path = '/feed', origin: string | null = ORIGIN): Promise<unknown> =>
    refusal(await connect(t, url, { path, protocols: ['app.v1', `ticket.${ticket}`], ...(origin !== null ? { origin } : {}) }))
  const ask = async (path = '/feed', headers = bearer()): Promise<string> => ticketOf(await askTicket(url, { path }, headers))

  t.same(await use(randomBytes(32).toString('base64url')), [401, 'WSG_TICKET_INVALID'], 'never issued')
  const before = store.calls.length
  t.same(await use('not-a-ticket'), [401, 'WSG_TICKET_INVALID'], 'malformed')
  t.equal(store.calls.length, before, 'a malformed ticket costs no store call')

  const expiring = await ask()
  clock.advance(30_000)
  t.same(await use(expiring), [401, 'WSG_TICKET_INVALID'], 'expired')

  const elsewhere = await ask('/feed')
  t.same(await use(elsewhere, '/orders/acme'), [401, 'WSG_TICKET_INVALID'], 'another path')
  t.same(await use(elsewhere, '/feed'), [401, 'WSG_TICKET_INVALID'], 'used up by the wrong try')

  const fromApp = await ask()
  t.same(await use(fromApp, '/feed', 'https://evil.test'), [401, 'WSG_TICKET_INVALID'], 'another Origin')
  t.same(await use(fromApp, '/feed', null), [401, 'WSG_TICKET_INVALID'], 'used up (and no Origin is another Origin)')

  const noOrigin = await ask('/feed', { authorization: bearer().authorization as string })
  t.same(await use(noOrigin, '/feed', ORIGIN), [401, 'WSG_TICKET_INVALID'], 'issued without Origin: bound to none')
  t.equal(await use(await ask('/feed', { authorization: bearer().authorization as string }), '/feed', null), 'opened', 'and used without one, it opens')
  t.same(details, ['ticket-unknown', 'ticket-malformed', 'ticket-expired', 'ticket-route', 'ticket-unknown', 'ticket-origin', 'ticket-unknown', 'ticket-origin'])
  await fastify.close()
})

t.test('a ticket for a parametric route opens that path only', async (t) => {
  const { url, bearer } = await app(t)
  const acme = ticketOf(await askTicket(url, { path: '/orders/acme' }, bearer()))
  const globex = ticketOf(await askTicket(url, { path: '/orders/acme' }, bearer()))
  t.same(refusal(await connect(t, url, { origin: ORIGIN, path: '/orders/globex', protocols: [`ticket.${globex}`] })), [401, 'WSG_TICKET_INVALID'])
  t.match(await connect(t, url, { origin: ORIGIN, path: '/orders/acme', protocols: ['app.v1', `ticket.${acme}`] }), { open: true, message: { params: { tenant: 'acme' } } })
})

t.test('a ticket never outlives the token it was issued for', async (t) => {
  const { url, clock, token } = await app(t)
  const short = await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${token('alice', 10)}` })
  t.equal(short.body.expiresAt, (Math.floor(clock.now() / 1000) + 10) * 1000, 'the token\'s exp')
  // Accepted within the verifier's clock tolerance, but there is no time left for a ticket.
  const past = mintToken(key, claimsFor(ISS, AUD, 'alice', clock.now() - 62_000, 60))
  const late = await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${past}` })
  t.same([late.status, late.body.code], [401, 'WSG_TOKEN_EXPIRED'])
  t.match(late.headers.get('www-authenticate'), /error="invalid_token"/)
})

t.test('route methods: a ticket-only route refuses tokens, a jwt-only route refuses tickets; a token and a ticket are ambiguous', async (t) => {
  const { app: fastify, url, bearer, token } = await app(t, {})
  t.teardown(() => fastify.close())
  const ticket = ticketOf(await askTicket(url, { path: '/feed' }, bearer()))
  t.same(refusal(await connect(t, url, { origin: ORIGIN, headers: { authorization: `Bearer ${token()}` }, protocols: [`ticket.${ticket}`] })), [400, 'WSG_AMBIGUOUS_CREDENTIAL'])
  t.same(refusal(await connect(t, url, { origin: ORIGIN, path: `/feed?ticket=${ticket}&ticket=${ticket}` })), [400, 'WSG_AMBIGUOUS_CREDENTIAL'])
  t.same(refusal(await connect(t, url, { origin: ORIGIN, protocols: [`ticket.${ticket}`, `ticket.${ticket.slice(1)}`] })), [400, 'WSG_AMBIGUOUS_CREDENTIAL'])
  t.equal(refusal(await connect(t, url, { origin: ORIGIN, protocols: ['app.v1', `Ticket.${ticket}`] })), 'opened', 'the prefix is case-insensitive, like bearer.; ambiguous tries did not use it up')
})

t.test('per route: methods [\'ticket\'] takes tickets only; [\'jwt\'] takes none; a socket opened with a ticket is refreshed with a token', async (t) => {
  const clock = new FakeClock()
  const { url } = await buildApp(t, { jwt: issuer, carriers: ['header', 'ticket'], tickets: {}, clock }, {
    routes: (app) => {
      app.get('/tickets-only', { websocket: true, config: { auth: { methods: ['ticket'] } } }, (socket, req) => {
        socket.send(JSON.stringify({ principal: req.principal }))
        socket.on('message', (data) => {
          app.wsguardAuth.authenticate(String(data), req).then((outcome) => { socket.send(JSON.stringify(outcome)) }, () => {})
        })
      })
      app.get('/jwt-only', { websocket: true, config: { auth: { methods: ['jwt'] } } }, (socket) => { socket.send('{}') })
    }
  })
  const token = mintToken(key, { ...claimsFor(ISS, AUD, 'alice', clock.now()), scope: 'feed:read' })
  const headers = { authorization: `Bearer ${token}` }
  t.same(refusal(await connect(t, url, { path: '/tickets-only', headers })), [400, 'WSG_BAD_REQUEST'], 'a token where only tickets are taken')
  const forJwtOnly = await askTicket(url, { path: '/jwt-only' }, headers)
  t.same([forJwtOnly.status, forJwtOnly.body.code], [400, 'WSG_TICKET_REQUEST_INVALID'], 'no ticket for a route that takes none')
  const forFeed = ticketOf(await askTicket(url, { path: '/feed' }, headers))
  t.same(refusal(await connect(t, url, { path: `/jwt-only?ticket=${forFeed}` })), [400, 'WSG_BAD_REQUEST'], 'a ticket where none is taken')
  t.equal(refusal(await connect(t, url, { path: `/feed?ticket=${forFeed}` })), 'opened', 'and it was not used up there')

  const ticket = ticketOf(await askTicket(url, { path: '/tickets-only' }, headers))
  const { default: WebSocket } = await import('ws')
  const ws = new WebSocket(`${url}/tickets-only?ticket=${ticket}`)
  t.teardown(() => ws.terminate())
  const messages: Array<Record<string, unknown>> = []
  await new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      messages.push(JSON.parse(String(data)) as Record<string, unknown>)
      if (messages.length === 1) ws.send(mintToken(key, { ...claimsFor(ISS, AUD, 'alice', clock.now(), 600), scope: 'feed:read' }))
      else resolve()
    })
  })
  t.match(messages, [{ principal: { id: 'alice', method: 'ticket' } }, { ok: true, principal: { id: 'alice', method: 'jwt' } }])
})
