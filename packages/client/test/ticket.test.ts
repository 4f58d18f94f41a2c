// The ticket flow against a small stub of the server's contract: POST ticketUrl with the
// bearer token (or the page's cookies) and {"path"}, then the socket with a ticket.<ticket>
// entry, one ticket per socket. And the credential failures: reported, backed off, never echoed.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { FakeClock } from '@wsguard/testing'
import { CredentialError } from '../src/index.js'
import { connect } from '../src/node.js'
import { harness, lastDelay, recorder } from './helpers.js'

interface TicketServer {
  url: string
  ticketUrl: string
  /** what each ticket request carried */
  requests: Array<{ authorization: string | undefined, body: unknown }>
  /** the ticket entry each handshake carried, and whether it was accepted */
  handshakes: Array<{ ticket: string | undefined, accepted: boolean }>
  /** sockets open now, to close from the test */
  open: Set<{ close (code: number, reason: string): void }>
}

/** The stub: tickets are random, bound to a path, consumed at first use. */
async function ticketServer (t: Test): Promise<TicketServer> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  const issued = new Map<string, string>()
  const server: TicketServer = { url: '', ticketUrl: '', requests: [], handshakes: [], open: new Set() }
  app.post('/tickets', async (request, reply) => {
    server.requests.push({ authorization: request.headers.authorization, body: request.body })
    if (request.headers.authorization !== 'Bearer good-token') return await reply.code(401).send({ code: 'WSG_TOKEN_INVALID' })
    const ticket = randomBytes(16).toString('base64url')
    issued.set(ticket, (request.body as { path: string }).path)
    return { ticket, expiresAt: Date.now() + 30_000 }
  })
  app.get('/feed', {
    websocket: true,
    preValidation: async (request, reply) => {
      const offered = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
      const ticket = offered.find((p) => p.startsWith('ticket.'))?.slice('ticket.'.length)
      const accepted = ticket !== undefined && issued.get(ticket) === '/feed'
      if (ticket !== undefined) issued.delete(ticket)
      server.handshakes.push({ ticket, accepted })
      if (!accepted) await reply.code(401).send({ code: 'WSG_TICKET_INVALID' })
    }
  }, (socket) => {
    server.open.add(socket)
    socket.on('close', () => server.open.delete(socket))
    socket.send('hello')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  server.url = `ws://127.0.0.1:${port}/feed`
  server.ticketUrl = `http://127.0.0.1:${port}/tickets`
  return server
}

t.test('with getToken: POST ticketUrl with the bearer token and the path, then a ticket entry; a new ticket per socket', async (t) => {
  const server = await ticketServer(t)
  const clock = new FakeClock()
  const r = recorder()
  const client = connect({
    url: `${server.url}?room=1`,
    protocols: ['feed.v1'],
    getToken: () => 'good-token',
    ticketUrl: server.ticketUrl,
    clock,
    onEvent: r.onEvent
  })
  t.teardown(() => { client.close() })
  t.same(await r.next('connected'), { type: 'connected', protocol: 'feed.v1' }, 'the server selected the app protocol')
  t.same(server.requests, [{ authorization: 'Bearer good-token', body: { path: '/feed' } }])
  t.equal(server.handshakes.length, 1)
  t.equal(server.handshakes[0]?.accepted, true)

  clock.advance(10_000)
  const retrying = r.next('retrying')
  for (const socket of server.open) socket.close(1001, 'server shutting down')
  clock.advance((await retrying).delayMs)
  await r.next('connected')
  t.equal(server.requests.length, 2, 'a second ticket for the second socket')
  t.equal(server.handshakes[1]?.accepted, true)
  t.not(server.handshakes[1]?.ticket, server.handshakes[0]?.ticket)
  const everything = JSON.stringify(r.events)
  t.notMatch(everything, /good-token/)
  for (const h of server.handshakes) t.notMatch(everything, String(h.ticket))
})

// helper-65's review: a redirect would take the token to a URL that was never checked (http:,
// another host); whether Authorization is dropped on the way is the fetch's choice.
t.test('a ticket endpoint that redirects is not followed: credential-failed, and nothing goes to the new URL', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const elsewhere: Array<string | undefined> = []
  app.post('/tickets', async (_request, reply) => await reply.redirect('/elsewhere', 307))
  app.post('/elsewhere', async (request) => { elsewhere.push(request.headers.authorization); return { ticket: 'T1' } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const r = recorder()
  const client = connect({ url: `ws://127.0.0.1:${port}/feed`, protocols: ['feed.v1'], getToken: () => 'good-token', ticketUrl: `http://127.0.0.1:${port}/tickets`, clock: new FakeClock(), onEvent: r.onEvent })
  t.teardown(() => { client.close() })
  const failed = await r.next('credential-failed')
  t.notMatch(String((failed.error as Error).message), /good-token/)
  t.same(elsewhere, [], 'the redirect was not followed')
})

t.test('without getToken: the ticket request carries the page\'s cookies (credentials: include), no Authorization', async (t) => {
  const calls: Array<{ url: string, init: RequestInit }> = []
  const fetchSpy = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    calls.push({ url: String(url), init: init as RequestInit })
    return new Response(JSON.stringify({ ticket: 'T1', expiresAt: 1 }), { status: 200 })
  }
  const h = harness(t, { getToken: undefined, ticketUrl: 'https://api.test/tickets', fetch: fetchSpy as typeof fetch })
  const socket = await h.socket(1)
  t.equal(calls.length, 1)
  t.equal(calls[0]?.url, 'https://api.test/tickets')
  t.equal(calls[0]?.init.method, 'POST')
  t.equal(calls[0]?.init.credentials, 'include')
  t.equal(calls[0]?.init.redirect, 'error', 'a redirect is not followed')
  t.same(calls[0]?.init.headers, { 'content-type': 'application/json' })
  t.equal(calls[0]?.init.body, JSON.stringify({ path: '/feed' }))
  t.same(socket.protocols, ['feed.v1', 'ticket.T1'])
})

t.test('a ticket request refused 401: the next getToken() is asked for a new token ("expired")', async (t) => {
  const server = await ticketServer(t)
  const reasons: string[] = []
  const clock = new FakeClock()
  const r = recorder()
  const retrying = r.next('retrying')
  const client = connect({
    url: server.url,
    protocols: ['feed.v1'],
    getToken: ({ reason }) => { reasons.push(reason); return reasons.length === 1 ? 'stale-token' : 'good-token' },
    ticketUrl: server.ticketUrl,
    clock,
    onEvent: r.onEvent
  })
  t.teardown(() => { client.close() })
  const { delayMs } = await retrying
  const failed = r.events.find((e) => e.type === 'credential-failed') as { error: CredentialError }
  t.type(failed.error, CredentialError)
  t.equal(failed.error.status, 401)
  t.equal(failed.error.message, 'the ticket request was answered 401')
  t.notMatch(JSON.stringify(r.events), /stale-token/)
  const connected = r.next('connected')
  clock.advance(delayMs)
  await connected
  t.same(reasons, ['connect', 'expired'])
})

t.test('credential failures are reported and backed off; their messages hold no credential', async (t) => {
  const answers: Record<string, () => Response> = {
    'a server error': () => new Response('oops', { status: 500 }),
    'an answer that is no JSON': () => new Response('<html>', { status: 200 }),
    'JSON null': () => new Response('null', { status: 200 }),
    'an empty answer': () => new Response(null, { status: 200 }),
    'no ticket in it': () => new Response(JSON.stringify({ expiresAt: 1 }), { status: 200 }),
    'a ticket that cannot be a subprotocol': () => new Response(JSON.stringify({ ticket: 'secret ticket' }), { status: 200 })
  }
  for (const [what, answer] of Object.entries(answers)) {
    const h = harness(t, { ticketUrl: 'https://api.test/tickets', fetch: (async () => answer()) as unknown as typeof fetch, random: () => 0.5 })
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    const failed = h.of('credential-failed')
    t.equal(failed.length, 1, what)
    t.type(failed[0]?.error, CredentialError, what)
    t.notMatch(String((failed[0]?.error as Error).message), /secret|token-1|oops|html/, what)
    t.same(h.of('retrying'), [{ type: 'retrying', delayMs: 500 }], `${what}: backoff`)
    t.equal(h.sockets.length, 0)
  }
})

t.test('a token that cannot be a subprotocol entry is refused unread; getToken() throwing is reported', async (t) => {
  for (const token of ['', 'has space', 'comma,in', 'ünïcode', 42]) {
    const h = harness(t, { getToken: () => token as string })
    await new Promise((resolve) => setImmediate(resolve))
    const error = h.of('credential-failed')[0]?.error as Error
    t.type(error, CredentialError)
    t.equal(error.message, 'getToken() result must be a non-empty string of RFC 6455 token characters')
    t.equal(h.sockets.length, 0)
  }
  const boom = new Error('signed out')
  const h = harness(t, { getToken: async () => { throw boom } })
  await new Promise((resolve) => setImmediate(resolve))
  t.same(h.of('credential-failed'), [{ type: 'credential-failed', error: boom }])
  t.equal(h.client.state, 'waiting')
  h.clock.advance(lastDelay(h))
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(h.of('credential-failed').length, 2, 'and tried again')
})

t.test('a WebSocket constructor that throws is a failed attempt, backed off', async (t) => {
  class Throwing {
    constructor () { throw new SyntaxError('bad url') }
  }
  const h = harness(t, { WebSocket: Throwing as unknown as typeof WebSocket, random: () => 0.5 })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((h.of('credential-failed')[0]?.error as Error).name, 'SyntaxError')
  t.same(h.of('retrying'), [{ type: 'retrying', delayMs: 500 }])
})
