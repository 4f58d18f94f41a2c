// Z16: a route with `config.governHttp: true` (the mercurius recipe's GET /graphql) verifies the
// credential of every plain GET and HEAD, a signature each. The per-IP gate counts them with the
// address's upgrades, so an address past its limit costs no signature work however it asks;
// they are no handshakes, so they are not audited as handshake refusals.
import t from 'tap'
import { Verify } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { claimsFor, generateKey, mintToken } from '@wsguard/testing'
import { harness, connect, ISS, AUD, key } from './helpers.js'

t.test('plain GETs and HEADs to a governHttp websocket route are counted and throttled by the per-IP gate before any signature work', async (t) => {
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 3, windowMs: 60_000 }, action: 'throttle' } } }, (app) => {
    app.get('/gql', { websocket: true, config: { governHttp: true } }, (socket) => { socket.close() })
  })
  // Counts signature verifications (fast-jwt verifies ES256 through crypto's Verify).
  let verifications = 0
  const original = Verify.prototype.verify
  Verify.prototype.verify = function (this: Verify, ...args: Parameters<Verify['verify']>) {
    verifications++
    return original.apply(this, args)
  } as Verify['verify']
  t.teardown(() => { Verify.prototype.verify = original })

  // A token with the real key id, valid claims and a wrong signature: only a signature check refuses it.
  const other = generateKey('ES256')
  let n = 0
  const forged = (): string => mintToken(other, { ...claimsFor(ISS, AUD, 'mallory', h.clock.now(), 600), jti: `j${++n}`, tenant: 'acme' }, { header: { kid: key.kid } })
  const port = (h.app.server.address() as AddressInfo).port
  const plain = async (method: 'GET' | 'HEAD'): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${port}/gql`, { method, headers: { authorization: `Bearer ${forged()}` } })
    await res.arrayBuffer()
    return res.status
  }

  // Two plain requests and one upgrade fill the address's window of 3, each verified once.
  t.equal(await plain('GET'), 401)
  t.equal(await plain('HEAD'), 401)
  const upgrade = await connect(t, `${h.base}/gql`, forged())
  t.equal('refused' in upgrade && upgrade.status, 401)
  t.equal(verifications, 3, 'each of the three verified')

  // Past the limit: the upgrade, a GET and a HEAD are refused 429 before any token work.
  const throttled = await connect(t, `${h.base}/gql`, forged())
  t.equal('refused' in throttled && throttled.status, 429, 'the upgrade: counted with the plain requests')
  const statuses = new Set<number>()
  for (let i = 0; i < 20; i++) statuses.add(await plain(i % 2 === 0 ? 'GET' : 'HEAD'))
  t.same([...statuses], [429], 'plain GETs and HEADs from the throttled address: 429')
  t.equal(verifications, 3, 'and no signature work for any of them')

  // The plain requests are no handshakes: the audit trail holds the upgrade's 401 and 429 only.
  t.same(h.audit().filter((e) => e.event === 'handshake.rejected').map((e) => e.code), ['WSG_TOKEN_INVALID', 'WSG_RATE_LIMITED'])
})

t.test('without governHttp a plain GET does no token work and is not counted', async (t) => {
  const h = await harness(t, { anomalies: { reconnectStorm: { perIp: { max: 1, windowMs: 60_000 }, action: 'throttle' } } })
  const port = (h.app.server.address() as AddressInfo).port
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/feed/acme`, { headers: { authorization: `Bearer ${h.token('alice')}` } })
    await res.arrayBuffer()
    t.equal(res.status, 404, "@fastify/websocket's answer to a plain GET")
  }
  const c = await connect(t, `${h.base}/feed/acme`, h.token('alice'))
  t.equal('refused' in c, false, 'the address window is still empty: the upgrade opens')
  if (!('refused' in c)) c.ws.close()
})
