import t, { type Test } from 'tap'
import type { FastifyRequest } from 'fastify'
import { claimsFor, FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'
import { MemoryTicketStore, type AuthHandshakeOptions } from '../src/index.js'
import type { Principal } from '@wsguard/core'
import { buildApp, connect, type Attempt } from './helpers.js'
import { askTicket, scriptedStore, ticketOf, type TicketAnswer } from './ticket-helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const ORIGIN = 'https://app.test'
const key = generateKey('ES256')
const issuer = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }
const clock = new FakeClock()
const token = (claims: Record<string, unknown> = {}): string => mintToken(key, { ...claimsFor(ISS, AUD, 'alice', clock.now()), scope: 'feed:read', ...claims })

async function app (t: Test, extra: Partial<AuthHandshakeOptions> = {}) {
  return await buildApp(t, { jwt: issuer, carriers: ['header', 'ticket'], tickets: {}, clock, ...extra }, {
    routes: (app) => {
      app.get('/scoped', { websocket: true, config: { auth: { scopes: ['feed:write'] } } }, (socket) => { socket.send('{}') })
      app.get('/open', { websocket: true, config: { auth: false } }, (socket) => { socket.send('{}') })
    }
  })
}

const codeOf = (a: TicketAnswer): unknown => [a.status, a.body.code]
const refusal = (res: Attempt): unknown => res.open ? 'opened' : [res.status, JSON.parse(res.body).code]

t.test('the endpoint refuses what is no ticket request, answering never cached', async (t) => {
  const { url } = await app(t, { allowedOrigins: [ORIGIN] })
  const bearer = { authorization: `Bearer ${token()}` }
  const cases: Array<[string, unknown, Record<string, string>, unknown]> = [
    ['no credential', { path: '/feed' }, {}, [401, 'WSG_CREDENTIAL_MISSING']],
    ['a Basic header is no credential', { path: '/feed' }, { authorization: 'Basic YQ==' }, [401, 'WSG_CREDENTIAL_MISSING']],
    ['an unreadable Bearer header', { path: '/feed' }, { authorization: 'Bearer' }, [400, 'WSG_BAD_REQUEST']],
    ['a bad token', { path: '/feed' }, { authorization: `Bearer ${token().slice(0, -4)}AAAA` }, [401, 'WSG_TOKEN_INVALID']],
    ['an Origin not allowed', { path: '/feed' }, { ...bearer, origin: 'https://evil.test' }, [403, 'WSG_ORIGIN_DENIED']],
    ['not JSON', '{"path": "/feed"', bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['not an object', ['/feed'], bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['null', null, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['no path', { route: '/feed' }, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['a path inherited, not its own', JSON.parse('{"__proto__": {"path": "/feed"}}'), bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['a path that is not a string', { path: 42 }, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['a path with a query', { path: '/feed?x=1' }, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['a path too long', { path: `/${'a'.repeat(2048)}` }, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['no such route', { path: '/nowhere' }, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['a plain HTTP route', { path: '/http' }, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['a route that opted out', { path: '/open' }, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']],
    ['a scope the route requires', { path: '/scoped' }, bearer, [403, 'WSG_INSUFFICIENT_SCOPE']],
    ['a body past the limit', { path: '/feed', pad: 'x'.repeat(5000) }, bearer, [400, 'WSG_TICKET_REQUEST_INVALID']]
  ]
  for (const [name, body, headers, expected] of cases) {
    const answer = await askTicket(url, body, headers)
    t.same(codeOf(answer), expected, name)
    t.equal(answer.headers.get('cache-control'), 'no-store', `${name}: not cached`)
  }
  const plain = await fetch(`${url.replace('ws', 'http')}/ws-ticket`, { method: 'POST', headers: { ...bearer, 'content-type': 'text/plain' }, body: '{"path":"/feed"}' })
  t.same([plain.status, (await plain.json() as { code: string }).code], [400, 'WSG_TICKET_REQUEST_INVALID'], 'another content type')
  const scoped = await askTicket(url, { path: '/scoped' }, bearer)
  t.match(scoped.headers.get('www-authenticate'), /error="insufficient_scope".*scope="feed:write"/)
  const missing = await askTicket(url, { path: '/feed' }, {})
  t.equal(missing.headers.get('www-authenticate'), 'Bearer realm="wsguard"')
  t.equal((await askTicket(url, { path: '/feed' }, { ...bearer, origin: ORIGIN })).status, 200, 'an allowed Origin')
})

t.test('requireOrigin: a ticket request without Origin is refused like a handshake without one', async (t) => {
  const { url } = await app(t, { requireOrigin: true, allowedOrigins: [ORIGIN] })
  t.same(codeOf(await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${token()}` })), [403, 'WSG_ORIGIN_DENIED'])
})

t.test('principalFor: the app\'s own session gets a ticket; null is 401; a throw or a bad answer is 503, logged', async (t) => {
  let answer: () => unknown = () => null
  const session = (request: FastifyRequest): Principal | null => {
    t.equal(request.url, '/ws-ticket', 'given the ticket request')
    return answer() as Principal | null
  }
  const { url, logs } = await app(t, { allowedOrigins: [ORIGIN], tickets: { principalFor: session } })
  const headers = { origin: ORIGIN, cookie: 'sid=s1' }
  t.same(codeOf(await askTicket(url, { path: '/feed' }, headers)), [401, 'WSG_CREDENTIAL_MISSING'], 'no session')

  const mine = { id: 'carol', kind: 'user', method: 'custom', scopes: ['feed:read'], claims: { tenant: 'acme' }, sessionId: 's1' }
  answer = () => mine
  const ticket = ticketOf(await askTicket(url, { path: '/feed' }, headers))
  mine.claims.tenant = 'globex' // the app's object changes later; the ticket does not
  t.match(await connect(t, url, { origin: ORIGIN, path: `/feed?ticket=${ticket}` }), { open: true, message: { principal: { id: 'carol', method: 'ticket', claims: { tenant: 'acme' }, sessionId: 's1' } } })

  answer = () => { throw new Error('session store down') }
  t.same(codeOf(await askTicket(url, { path: '/feed' }, headers)), [503, 'WSG_UNAVAILABLE'])
  t.match(logs.text(), /session store down.*"msg":"wsguard: ticket request failed"/)
  answer = () => ({ id: 'carol' })
  t.same(codeOf(await askTicket(url, { path: '/feed' }, headers)), [503, 'WSG_UNAVAILABLE'])
  t.match(logs.text(), /principalFor returned something that is neither a Principal nor null.*"msg":"wsguard: ticket request failed"/)
  // A Bearer token still goes first, and is verified as at the handshake.
  answer = () => { throw new Error('not asked') }
  t.match(await askTicket(url, { path: '/feed' }, { ...headers, authorization: `Bearer ${token()}` }), { status: 200 })
})

t.test('a certificate-bound token gets no ticket without its certificate; a bound principal needs it at the handshake', async (t) => {
  const bound = { id: 'wl', kind: 'workload', method: 'custom', scopes: [], claims: { cnf: { 'x5t#S256': 'abc' } }, sessionId: 's' }
  const { url } = await app(t, { allowedOrigins: [ORIGIN], tickets: { principalFor: () => bound as Principal } })
  t.same(codeOf(await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${token({ cnf: { 'x5t#S256': 'abc' } })}` })), [401, 'WSG_CERT_REQUIRED'])
  const ticket = ticketOf(await askTicket(url, { path: '/feed' }, { origin: ORIGIN }))
  t.same(refusal(await connect(t, url, { origin: ORIGIN, path: `/feed?ticket=${ticket}` })), [401, 'WSG_CERT_REQUIRED'])
})

t.test('ticket stores that fail: no ticket issued, no handshake admitted (503); a store that answers nothing (null) is no ticket', async (t) => {
  let issue: (() => unknown) | undefined = () => { throw new Error('store full') }
  let consume: (() => unknown) | undefined
  const store = scriptedStore(new MemoryTicketStore({ clock }), {
    issue: () => issue === undefined ? undefined : issue(),
    consume: () => consume === undefined ? null : consume()
  })
  const { url, logs } = await app(t, { tickets: { store, storeTimeoutMs: 50 } })
  const headers = { authorization: `Bearer ${token()}` }
  const refused = await askTicket(url, { path: '/feed' }, headers)
  t.same(codeOf(refused), [503, 'WSG_UNAVAILABLE'])
  t.ok(refused.headers.get('retry-after'), 'with Retry-After')
  t.match(logs.text(), /"message":"store full".*the ticket store failed; ticket requests and handshakes with tickets are refused \(503\)/)
  issue = () => new Promise(() => {})
  t.same(codeOf(await askTicket(url, { path: '/feed' }, headers)), [503, 'WSG_UNAVAILABLE'], 'a store that never answers')
  t.notMatch(logs.text(), /ticket store gave no answer/, 'said once per 30 s, not per request')
  clock.advance(30_000)
  t.same(codeOf(await askTicket(url, { path: '/feed' }, headers)), [503, 'WSG_UNAVAILABLE'])
  t.match(logs.text(), /ticket store gave no answer within 50 ms/, 'said again 30 s later')
  clock.advance(30_000)

  issue = undefined
  const ticket = ticketOf(await askTicket(url, { path: '/feed' }, headers))
  t.same(refusal(await connect(t, url, { path: `/feed?ticket=${ticket}` })), [401, 'WSG_TICKET_INVALID'], 'null: nothing there')
  consume = () => { throw new Error('redis down') }
  t.same(refusal(await connect(t, url, { path: `/feed?ticket=${ticket}` })), [503, 'WSG_UNAVAILABLE'])
  consume = () => new Promise(() => {})
  t.same(refusal(await connect(t, url, { path: `/feed?ticket=${ticket}` })), [503, 'WSG_UNAVAILABLE'], 'a store that never answers')
  const warned = logs.lines.filter((l) => l.includes('the ticket store failed') && !l.includes('store full') && !l.includes('no answer within 50 ms'))
  t.equal(warned.length, 1, 'warned once per 30 s, not per handshake')
  t.match(warned[0], /redis down/)
  clock.advance(30_000)
  consume = () => ({ path: '/feed', origin: null, expiresAt: clock.now() + 1000, principal: { id: 'x' } })
  t.same(refusal(await connect(t, url, { path: `/feed?ticket=${ticket}` })), [503, 'WSG_UNAVAILABLE'], 'a record without a principal')
  t.match(logs.text(), /gave back a record without a valid principal/)
  consume = () => ({ path: '/feed', origin: null, expiresAt: clock.now(), principal: { id: 'x', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's' } })
  t.same(refusal(await connect(t, url, { path: `/feed?ticket=${ticket}` })), [401, 'WSG_TICKET_INVALID'], 'a record past its expiry')
})

t.test('two websocket routes on one path (by host): the first one\'s rules decide the ticket request', async (t) => {
  const { url } = await buildApp(t, { jwt: issuer, carriers: ['header', 'ticket'], tickets: {}, clock }, {
    routes: (app) => {
      app.get('/c', { websocket: true, constraints: { host: '127.0.0.1' } }, (socket) => { socket.send('{}') })
      app.get('/c', { websocket: true, constraints: { host: 'other.test' }, config: { auth: { scopes: ['feed:write'] } } }, (socket) => { socket.send('{}') })
    }
  })
  t.equal((await askTicket(url, { path: '/c' }, { authorization: `Bearer ${token()}` })).status, 200)
})

t.test('a ticket and a token appear in no log line, no header and no body, except the one answer that hands the ticket out', async (t) => {
  const { url, logs } = await app(t, { allowedOrigins: [ORIGIN] })
  const bearer = token()
  const seen: string[] = []
  const keep = (a: TicketAnswer | Attempt): void => {
    const headers = 'open' in a ? (a.open ? a.responseHeaders : a.headers) : Object.fromEntries(a.headers)
    seen.push(JSON.stringify(headers), 'open' in a ? (a.open ? JSON.stringify(a.message) : a.body) : a.text)
  }
  const first = await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${bearer}`, origin: ORIGIN })
  seen.push(JSON.stringify(Object.fromEntries(first.headers)))
  const ticket = ticketOf(first)
  const attempts = [
    await connect(t, url, { origin: ORIGIN, path: `/feed?ticket=${ticket}` }),
    await connect(t, url, { origin: ORIGIN, path: `/feed?ticket=${ticket}` }),
    await connect(t, url, { origin: ORIGIN, protocols: ['app.v1', `ticket.${ticket}`] }),
    await connect(t, url, { origin: 'https://evil.test', protocols: ['app.v1', `ticket.${ticket}`] }),
    await connect(t, url, { origin: ORIGIN, path: `/scoped?ticket=${ticket}` }),
    await connect(t, url, { origin: ORIGIN, headers: { authorization: `Bearer ${bearer}` }, path: `/feed?ticket=${ticket}` })
  ]
  attempts.forEach(keep)
  keep(await askTicket(url, { path: '/scoped', ticket }, { authorization: `Bearer ${bearer}`, origin: ORIGIN }))
  keep(await askTicket(url, `{"path": "${ticket}`, { authorization: `Bearer ${bearer}`, origin: ORIGIN }))
  t.match(attempts.map(refusal), ['opened', [401, 'WSG_TICKET_INVALID'], [401, 'WSG_TICKET_INVALID'], [403, 'WSG_ORIGIN_DENIED'], [401, 'WSG_TICKET_INVALID'], [400, 'WSG_AMBIGUOUS_CREDENTIAL']])
  const everything = [...seen, logs.text()].join('\n')
  t.ok(logs.lines.length > 10, `${logs.lines.length} log lines, at trace level`)
  t.notOk(everything.includes(ticket), 'the ticket: nowhere')
  t.notOk(everything.includes(ticketOf(first).slice(0, 20)), 'not even a part of it')
  t.notOk(everything.includes(bearer.split('.')[2] as string), 'the token: nowhere')
})

// Found by session 21's review: an `exp` with a fraction made a fractional TTL, which Redis's PX
// refuses (the ticket request failed 503). Whole milliseconds, never past the token.
t.test('a token whose exp has a fraction: the ticket expires at a whole millisecond, not after the token', async (t) => {
  const ttls: number[] = []
  const inner = new MemoryTicketStore({ clock })
  const store: typeof inner = Object.assign(Object.create(inner) as typeof inner, {
    issue: (id: string, record: Parameters<typeof inner.issue>[1], ttlMs: number) => { ttls.push(ttlMs); return inner.issue(id, record, ttlMs) }
  })
  const { url } = await app(t, { tickets: { store } })
  const exp = clock.now() / 1000 + 10.3337
  const answer = await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${token({ exp })}` })
  t.equal(answer.status, 200)
  const expiresAt = answer.body.expiresAt as number
  t.ok(Number.isInteger(expiresAt) && expiresAt <= exp * 1000 && expiresAt > exp * 1000 - 1, `expiresAt ${expiresAt} for exp ${exp}`)
  t.ok(ttls.length === 1 && Number.isInteger(ttls[0]), `the store's TTL is whole: ${String(ttls)}`)
})
