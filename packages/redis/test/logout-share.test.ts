import { randomUUID } from 'node:crypto'
import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake, backchannelLogout, BACKCHANNEL_LOGOUT_EVENT } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { claimsFor, connectSocket, generateKey, jwks, mintToken, openSocket } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { REDIS_URL, testClient, testPrefix } from './helpers.js'

// Session 26's adversarial review: one account at the trusted IdP, signing in and out in a loop,
// filled the shared revocation store with its own logouts (a fresh `sid` each; the default
// 100,000 records in 28 s of this server's time), and every later logout, a victim's among them,
// was answered 503 and not applied. auth-handshake's `maxLogoutsPerSubject` now gives each user a
// share of it (here 10 of a store bounded at 50).

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const CLIENT = 'feed-web'
const idp = generateKey('ES256')

function logoutToken (sub: string, sid: string): string {
  const iat = Math.floor(Date.now() / 1000)
  return mintToken(idp, { iss: ISS, aud: CLIENT, iat, exp: iat + 120, jti: randomUUID(), sub, sid, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }, { header: { typ: 'logout+jwt' } })
}

t.test('one account\'s own logouts get its share of the Redis store, not all of it: a victim\'s logout still closes her socket and refuses her token', async (t) => {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const stores = redisStores({ url: REDIS_URL }, { keyPrefix, maxRevocationRecords: 50 })
  t.teardown(() => stores.close())
  await stores.ready()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(idp) } })
  await app.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, revocations: stores.revocations, registry: stores.registry })
  await app.register(backchannelLogout, {
    issuers: { issuer: ISS, audience: CLIENT, algorithms: ['ES256'], jwks: jwks(idp) }, revocations: stores.revocations, replays: stores.replays, maxLogoutsPerSubject: 10
  })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('hello') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed`
  const logout = async (sub: string, sid: string): Promise<number> => (await app.inject({
    method: 'POST', url: '/oidc/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ logout_token: logoutToken(sub, sid) }).toString()
  })).statusCode

  const alice = mintToken(idp, { ...claimsFor(ISS, AUD, 'alice', Date.now() - 1_000, 600), sid: 'alice-sid' })
  const socket = await openSocket(url, { token: alice, teardown: (fn) => t.teardown(fn) })
  const statuses: Record<number, number> = {}
  for (let i = 0; i < 50; i++) {
    const status = await logout('mallory', `mallory-sid-${i}`)
    statuses[status] = (statuses[status] ?? 0) + 1
  }
  t.same(statuses, { 200: 10, 503: 40 }, 'mallory\'s 50 logouts: her share of 10 applied, the rest refused')
  t.equal(stores.revocations.size, 10, 'the store (50 places) is not full')
  t.equal(await logout('alice', 'alice-sid'), 200, 'the victim\'s logout is applied')
  t.equal((await socket.closed).code, 4403, 'her socket is closed')
  const again = await connectSocket(url, { token: alice, teardown: (fn) => t.teardown(fn) })
  t.equal('refused' in again ? again.status : 101, 401, 'her logged-out token is refused')
})
