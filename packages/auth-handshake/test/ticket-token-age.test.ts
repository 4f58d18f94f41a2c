// A ticket never outlives the token it was issued for: not its `exp`, and not the issuer's
// `maxTokenAgeMs` either. A token a handshake would refuse as too old must not open a socket
// through a ticket asked for just before it aged out.
import t from 'tap'
import { claimsFor, FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'
import { MemoryTicketStore } from '../src/index.js'
import { buildApp, connect } from './helpers.js'
import { askTicket, ticketOf } from './ticket-helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const ORIGIN = 'https://app.test'
const key = generateKey('ES256')
const MAX_AGE_MS = 60_000
const TOLERANCE_MS = 1_000

t.test('a ticket expires when its token becomes too old (maxTokenAgeMs), however long ttlMs is', async (t) => {
  const clock = new FakeClock()
  const issuer = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key), maxTokenAgeMs: MAX_AGE_MS, clockToleranceMs: TOLERANCE_MS }
  const { url } = await buildApp(t, { jwt: issuer, carriers: ['header', 'subprotocol', 'ticket'], tickets: { store: new MemoryTicketStore({ clock }) }, clock })
  // Issued 50 s ago: 10 s (and the tolerance) left before a handshake refuses it as too old.
  const iatMs = Math.floor((clock.now() - 50_000) / 1000) * 1000
  const token = mintToken(key, claimsFor(ISS, AUD, 'alice', iatMs, 3600))
  const agedOutAt = iatMs + MAX_AGE_MS + TOLERANCE_MS

  const asked = await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${token}`, origin: ORIGIN })
  t.equal(asked.status, 200)
  t.ok((asked.body.expiresAt as number) <= agedOutAt, `expiresAt ${String(asked.body.expiresAt)} is no later than the token's age limit ${agedOutAt}`)
  const ticket = ticketOf(asked)

  clock.advance(20_000)
  const direct = await connect(t, url, { origin: ORIGIN, headers: { authorization: `Bearer ${token}` } })
  t.same(direct.open ? 'opened' : direct.status, 401, 'the token itself is refused now: too old')
  const spent = await connect(t, url, { origin: ORIGIN, protocols: ['app.v1', `ticket.${ticket}`] })
  t.same(spent.open ? 'opened' : [spent.status, JSON.parse(spent.body).code], [401, 'WSG_TICKET_INVALID'], 'and so is its ticket')
})

t.test('a token past its age limit gets no ticket', async (t) => {
  const clock = new FakeClock()
  const issuer = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key), maxTokenAgeMs: MAX_AGE_MS, clockToleranceMs: TOLERANCE_MS }
  const { url } = await buildApp(t, { jwt: issuer, carriers: ['header', 'subprotocol', 'ticket'], tickets: {}, clock })
  const old = mintToken(key, claimsFor(ISS, AUD, 'alice', clock.now() - 120_000, 3600))
  const asked = await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${old}`, origin: ORIGIN })
  t.equal(asked.status, 401)
})
