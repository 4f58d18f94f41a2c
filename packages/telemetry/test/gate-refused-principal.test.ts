// Z15: the per-principal gate counts only handshakes every check admitted. It ran first in
// preValidation, before session-expiry's revocation check and topic-authz's handshake topic:
// a thief looping a revoked (stolen) token filled its subject's window, and the real user's
// fresh token was refused 429 until the stolen token expired.
import t from 'tap'
import { harness, connect, open } from './helpers.js'
import { sample } from './prom.js'

t.test("a revoked token looped by a thief never counts against its subject: the real user's fresh token opens", async (t) => {
  const h = await harness(t, { anomalies: { reconnectStorm: { perPrincipal: { max: 5, windowMs: 60_000 }, action: 'throttle' } } })
  const stolen = h.token('alice', 3600, { jti: 'stolen-jti' })
  const victimSocket = await open(t, `${h.base}/feed/acme`, stolen)
  h.clock.advance(1_000)
  t.same(await h.app.wsSessions.revoke({ subject: 'alice' }, { actor: 'admin', reason: 'token stolen' }), { closed: 1 })
  victimSocket.ws.close()
  h.clock.advance(121_000) // the handshake above falls out of the gate's sliding window

  const outcomes = new Set<string>()
  for (let i = 0; i < 12; i++) {
    const r = await connect(t, `${h.base}/feed/acme`, stolen)
    outcomes.add('refused' in r ? `${r.status} ${String((r.body as { code?: string }).code)}` : 'open')
  }
  t.same([...outcomes], ['401 WSG_TOKEN_REVOKED'], 'the revoked token opens nothing, and is never throttled as alice')

  // Alice signs in again: a fresh token issued after the revocation.
  const fresh = h.token('alice', 3600, { jti: 'fresh-jti' })
  const r = await connect(t, `${h.base}/feed/acme`, fresh)
  t.equal('refused' in r, false, 'the real alice opens')
  if (!('refused' in r)) r.ws.close()
})

t.test('a handshake refused by the handshake topic does not count either; admitted ones still do', async (t) => {
  const h = await harness(t, { anomalies: { reconnectStorm: { perPrincipal: { max: 2, windowMs: 60_000 }, action: 'throttle' } } })
  const token = h.token('bob') // tenant acme
  for (let i = 0; i < 6; i++) {
    const r = await connect(t, `${h.base}/feed/other`, token)
    t.equal('refused' in r && r.status, 403, 'another tenant: refused by the handshake topic')
  }
  const admitted: Array<number | 'open'> = []
  for (let i = 0; i < 3; i++) {
    const c = await connect(t, `${h.base}/feed/acme`, token)
    admitted.push('refused' in c ? c.status : 'open')
    if (!('refused' in c)) c.ws.close()
  }
  t.same(admitted, ['open', 'open', 429], 'two admitted, the third over the limit of 2')
  const rejected = h.audit().filter((e) => e.event === 'handshake.rejected').map((e) => e.code)
  t.same(rejected.filter((c) => c === 'WSG_RATE_LIMITED'), ['WSG_RATE_LIMITED'], 'the 429 is audited')
  const metrics = await h.metrics()
  t.equal(sample(metrics, 'wsguard_handshakes_total', { route: '/feed/:tenant', outcome: 'accepted', code: 'none' }), 2, 'the 429 is not counted accepted')
  t.equal(sample(metrics, 'wsguard_handshakes_total', { route: '/feed/:tenant', outcome: 'rejected', code: 'WSG_RATE_LIMITED' }), 1)
})
