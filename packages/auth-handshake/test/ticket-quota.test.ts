// tickets.maxPerPrincipal: one principal asking in a loop cannot fill the ticket store (the
// memory store's places, a Redis store's memory) and so refuse everyone else's tickets.
import t, { type Test } from 'tap'
import type { FastifyRequest } from 'fastify'
import { claimsFor, FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'
import type { Principal } from '@wsguard/core'
import { MemoryTicketStore, type AuthHandshakeOptions } from '../src/index.js'
import { MAX_QUOTA_PRINCIPALS, TicketQuota } from '../src/ticket-quota.js'
import { buildApp, connect, type Attempt } from './helpers.js'
import { askTicket, scriptedStore, ticketOf, type TicketAnswer } from './ticket-helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const ORIGIN = 'https://app.test'
const key = generateKey('ES256')
const issuer = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }
const clock = new FakeClock()
const token = (sub: string): string => mintToken(key, { ...claimsFor(ISS, AUD, sub, clock.now(), 3600), scope: 'feed:read' })
const bearer = (sub: string): Record<string, string> => ({ authorization: `Bearer ${token(sub)}` })
const codeOf = (a: TicketAnswer): unknown => [a.status, a.body.code]
const opened = (res: Attempt): unknown => res.open ? 'opened' : [res.status, JSON.parse(res.body).code]

async function app (t: Test, tickets: NonNullable<AuthHandshakeOptions['tickets']>, extra: Partial<AuthHandshakeOptions> = {}) {
  return await buildApp(t, { jwt: issuer, carriers: ['header', 'ticket'], tickets, clock, ...extra })
}

t.test('a principal holding maxPerPrincipal unused tickets is refused 429 with Retry-After; others are not', async (t) => {
  const { url, logs } = await app(t, { maxPerPrincipal: 3, ttlMs: 30_000 })
  const held: string[] = []
  for (let i = 0; i < 3; i++) {
    held.push(ticketOf(await askTicket(url, { path: '/feed' }, bearer('alice'))))
    clock.advance(1_000)
  }
  const refused = await askTicket(url, { path: '/feed' }, bearer('alice'))
  t.same(codeOf(refused), [429, 'WSG_RATE_LIMITED'])
  t.equal(refused.headers.get('retry-after'), '27', 'until her oldest ticket expires (30 s after it was issued, 3 s ago)')
  t.equal(refused.headers.get('cache-control'), 'no-store')
  t.notMatch(refused.text, /ticket"/, 'no ticket in the refusal')
  t.match(await askTicket(url, { path: '/feed' }, bearer('bob')), { status: 200 }, 'another principal still gets one')

  // One used: one place back.
  t.equal(opened(await connect(t, url, { path: `/feed?ticket=${held[0] as string}` })), 'opened')
  t.match(await askTicket(url, { path: '/feed' }, bearer('alice')), { status: 200 }, 'a redeemed ticket no longer counts')
  t.same(codeOf(await askTicket(url, { path: '/feed' }, bearer('alice'))), [429, 'WSG_RATE_LIMITED'])
  // One used up by a wrong try (another Origin): it no longer counts either.
  t.same(opened(await connect(t, url, { path: `/feed?ticket=${held[1] as string}`, origin: ORIGIN })), [401, 'WSG_TICKET_INVALID'])
  t.match(await askTicket(url, { path: '/feed' }, bearer('alice')), { status: 200 }, 'a ticket used up by a refused try no longer counts')
  // Expired: they all stop counting.
  clock.advance(30_000)
  for (let i = 0; i < 3; i++) t.match(await askTicket(url, { path: '/feed' }, bearer('alice')), { status: 200 }, `after expiry, ticket ${i + 1}`)
  t.same(codeOf(await askTicket(url, { path: '/feed' }, bearer('alice'))), [429, 'WSG_RATE_LIMITED'])
  t.notMatch(logs.text(), /WSG_RATE_LIMITED.*eyJ|ticket":"/, 'no credential in the logs')
})

t.test('the same subject of another issuer is another principal; an expired ticket redeemed gives its place back', async (t) => {
  const quota = new TicketQuota(1, clock)
  const alice = { id: 'alice', kind: 'user', method: 'jwt', issuer: 'https://a.test', scopes: [], claims: {}, sessionId: 's' } satisfies Principal
  const other = { ...alice, issuer: 'https://b.test' } satisfies Principal
  const noIssuer = { ...alice, issuer: undefined } satisfies Principal
  t.equal(quota.take(alice, clock.now() + 1_000), 'ok')
  t.equal(quota.take(alice, clock.now() + 1_000), 1_000, 'ms until her oldest expires')
  t.equal(quota.take(other, clock.now() + 1_000), 'ok', 'another issuer')
  t.equal(quota.take(noIssuer, clock.now() + 1_000), 'ok', 'no issuer')
  quota.release(alice, 12345) // an expiry the store shortened: the oldest goes
  t.equal(quota.take(alice, clock.now() + 1_000), 'ok')
  quota.release({ ...alice, id: 'nobody' }, 0)
  t.equal(quota.size, 3, 'releasing what is not held changes nothing')
})

t.test('a store that fails to issue: the ticket never existed, it does not count', async (t) => {
  let fail = true
  const store = scriptedStore(new MemoryTicketStore({ clock }), { issue: () => { if (fail) throw new Error('store down') } })
  const { url } = await app(t, { maxPerPrincipal: 1, store })
  t.same(codeOf(await askTicket(url, { path: '/feed' }, bearer('carol'))), [503, 'WSG_UNAVAILABLE'])
  fail = false
  t.match(await askTicket(url, { path: '/feed' }, bearer('carol')), { status: 200 })
})

t.test(`at most ${MAX_QUOTA_PRINCIPALS} principals tracked: expired ones are swept; when all hold live tickets, a new one gets 503`, async (t) => {
  const quota = new TicketQuota(1, clock)
  const p = (id: string): Principal => ({ id, kind: 'user', method: 'custom', scopes: [], claims: {}, sessionId: 's' })
  for (let i = 0; i < MAX_QUOTA_PRINCIPALS; i++) quota.take(p(`u${i}`), clock.now() + (i === 0 ? 1_000 : 60_000))
  t.equal(quota.take(p('late'), clock.now() + 1_000), 'full')
  t.equal(quota.take(p('u5'), clock.now() + 1_000), 59_999 + 1, 'a principal already tracked is still answered')
  clock.advance(1_000)
  t.equal(quota.take(p('late'), clock.now() + 1_000), 'ok', 'u0\'s ticket expired: swept, a place for another')
  t.equal(quota.size, MAX_QUOTA_PRINCIPALS)

  // At the endpoint: 503 and one warning.
  let who = 'x'
  const principalFor = (_request: FastifyRequest): Principal => p(who)
  let storeDown = false
  const store = scriptedStore(new MemoryTicketStore({ clock }), { issue: () => { if (storeDown) throw new Error('store down') } })
  const { app: server, url, logs } = await app(t, { maxPerPrincipal: 2, principalFor, store }, { allowedOrigins: [ORIGIN] })
  const ask = async (): Promise<number> => (await server.inject({ method: 'POST', url: '/ws-ticket', headers: { origin: ORIGIN, 'content-type': 'application/json' }, payload: '{"path":"/feed"}' })).statusCode
  for (let i = 0; i < MAX_QUOTA_PRINCIPALS; i++) {
    who = `v${i}`
    if (await ask() !== 200) t.fail(`principal ${i} refused`)
  }
  who = 'one-too-many'
  t.equal(await ask(), 503)
  t.equal(await ask(), 503)
  t.equal(logs.lines.filter((l) => l.includes('principals holding unused tickets')).length, 1, 'warned once')
  t.match((await askTicket(url, { path: '/feed' }, { origin: ORIGIN })).headers.get('retry-after'), /^\d+$/)
  // A principal already tracked, with room: the store fails. Its warning is not muted by the quota's.
  who = 'v0'
  storeDown = true
  t.equal(await ask(), 503)
  t.equal(logs.lines.filter((l) => l.includes('store down') && l.includes('the ticket store failed')).length, 1, 'the store failure is said too')
})

t.test('the default: 8 unused tickets per principal', async (t) => {
  const { url } = await app(t, {})
  for (let i = 0; i < 8; i++) t.equal((await askTicket(url, { path: '/feed' }, bearer('dave'))).status, 200, `ticket ${i + 1}`)
  t.same(codeOf(await askTicket(url, { path: '/feed' }, bearer('dave'))), [429, 'WSG_RATE_LIMITED'])
})
