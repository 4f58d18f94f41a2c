import t from 'tap'
import { ChannelName, type HandshakeRejectedMessage, type Principal, type SessionOpenedMessage } from '@wsguard/core'
import { claimsFor, mintToken } from '@wsguard/testing'
import { AUD, connect, harness, ISS, key, listen, open, T0 } from './helpers.js'

// A token past its exp but inside the verifier's clock tolerance was admitted and closed 4401
// at once; a client reconnecting with the same token looped open → 4401 (eleven cycles in 7 s
// from a tRPC client). Such a credential is refused before the upgrade instead.

const EXP = T0 + 100_000

/** A token that expires at EXP (whole seconds, as JWT times are), and the clock set `offsetMs` before it (negative: after). */
function expiringIn (offsetMs: number, clock: { set: (ms: number) => void }): string {
  clock.set(EXP - offsetMs)
  return mintToken(key, { ...claimsFor(ISS, AUD, 'alice', T0, 100), scope: 'feed:read' })
}

t.test('expired inside the clock tolerance: 401 WSG_TOKEN_EXPIRED at the handshake, every time, no socket opened', async (t) => {
  const opened = listen<SessionOpenedMessage>(t, ChannelName.sessionOpened)
  const rejected = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const { base, clock } = await harness(t, { clockToleranceMs: 5_000 })
  const stale = expiringIn(-2_000, clock)
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await connect(t, `${base}/feed`, stale)
    t.match(r, { refused: true, status: 401, body: { code: 'WSG_TOKEN_EXPIRED' } }, `attempt ${attempt}`)
    if ('refused' in r) t.equal(r.headers['www-authenticate'], 'Bearer realm="wsguard", error="invalid_token", error_description="The token has expired"')
  }
  t.equal(opened.seen.length, 0, 'no open → close loop: not one socket opened')
  t.match(rejected.seen, Array(5).fill({ source: '@wsguard/session-expiry', code: 'WSG_TOKEN_EXPIRED', detail: 'expired' }))
})

t.test('minRemainingMs (default 1000): closer than that is refused, farther is admitted; 0 refuses only the expired', async (t) => {
  const { base, clock } = await harness(t, { clockToleranceMs: 5_000, session: { noticeMs: 0 } })
  t.match(await connect(t, `${base}/feed`, expiringIn(999, clock)), { refused: true, status: 401, body: { code: 'WSG_TOKEN_EXPIRED' } })
  const c = await open(t, `${base}/feed`, expiringIn(1_000, clock))
  t.match(await c.ask('who'), { id: 'alice' })

  const zero = await harness(t, { clockToleranceMs: 5_000, session: { minRemainingMs: 0, noticeMs: 0 } })
  t.match(await connect(t, `${zero.base}/feed`, expiringIn(0, zero.clock)), { refused: true, status: 401, body: { code: 'WSG_TOKEN_EXPIRED' } }, 'exp = now has no time left')
  const d = await open(t, `${zero.base}/feed`, expiringIn(1, zero.clock))
  t.match(await d.ask('who'), { id: 'alice' })
})

t.test('a refresh to a token that has (nearly) expired is refused WSG_TOKEN_EXPIRED; the session keeps its deadline', async (t) => {
  const { clock, base, token } = await harness(t, { clockToleranceMs: 5_000, session: { noticeMs: 10_000, graceMs: 5_000 } })
  const c = await open(t, `${base}/feed`, token('alice', 30))
  clock.advance(25_000)
  t.match(await c.next(), { type: 'auth.expiring' })
  clock.advance(5_000)
  // Expired 500 ms ago on this clock (T0 + 31 s), within the tolerance, later than the current token's exp.
  clock.advance(500)
  const stale = mintToken(key, { ...claimsFor(ISS, AUD, 'alice', T0, 31), scope: 'feed:read' })
  t.same(await c.ask({ type: 'auth.refresh', token: stale }), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_EXPIRED' })
  clock.advance(4_500)
  t.same(await c.closed, { code: 4401, reason: 'credential expired' })
})

t.test('a certificate-only principal close to its notAfter is refused WSG_CERT_UNTRUSTED; without expiry, nothing to check', async (t) => {
  const base: Principal = Object.freeze({ id: 'spiffe://prod.example/ingest', kind: 'workload', method: 'mtls', scopes: [], claims: {}, sessionId: 's' })
  const { base: url } = await harness(t, {
    auth: false,
    session: { refresh: false },
    before: async (app) => {
      app.decorateRequest('principal', null as unknown as Principal)
      app.addHook('onRequest', async (request) => {
        const left = request.headers['x-left']
        request.principal = left === undefined ? base : { ...base, expiresAt: T0 + Number(left) }
      })
    }
  })
  t.match(await connect(t, `${url}/feed`, undefined, { headers: { 'x-left': '500' } }), { refused: true, status: 401, body: { code: 'WSG_CERT_UNTRUSTED' } })
  const c = await open(t, `${url}/feed`, undefined, { headers: { 'x-left': '600000' } })
  t.match(await c.ask('who'), { id: 'spiffe://prod.example/ingest' })
  const forever = await open(t, `${url}/feed`)
  t.match(await forever.ask('who'), { id: 'spiffe://prod.example/ingest' })
})
