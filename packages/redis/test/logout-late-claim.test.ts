import { randomUUID } from 'node:crypto'
import t from 'tap'
import Fastify from 'fastify'
import type { Principal, Revocation, RevocationStore } from '@wsguard/core'
import { backchannelLogout, BACKCHANNEL_LOGOUT_EVENT } from '@wsguard/auth-handshake'
import { generateKey, jwks, mintToken, until } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { startRelay, testClient, testPrefix } from './helpers.js'

// Back-channel logout over the Redis replay store when Redis stalls longer than the endpoint
// waits (commandTimeoutMs above auth-handshake's storeTimeoutMs): the claim answers after the
// endpoint said 503. The IdP's retry must neither be refused as a replay while that claim is
// still out (it would land first, on the same connection) nor once it has landed.

const ISS = 'https://idp.test'
const CLIENT = 'feed-web'
const key = generateKey('ES256')

class RecordingStore implements RevocationStore {
  readonly revoked: Revocation[] = []
  async revoke (r: Revocation): Promise<void> { this.revoked.push(r) }
  isRevoked (_p: Principal, _now: number): boolean { return false }
  subscribe (): () => void { return () => {} }
}

t.test('an IdP retry while a timed-out claim is still out is told to come back (503); once the claim lands it is released, and the retry is applied', async (t) => {
  const relay = await startRelay(t)
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const stores = redisStores({ url: relay.url }, { keyPrefix, commandTimeoutMs: 10_000 })
  t.teardown(() => stores.close())
  await stores.ready()

  let claims = 0
  let released = 0
  const replays = {
    claim: (id: string, u: number) => { claims++; return stores.replays.claim(id, u) },
    release: async (id: string) => { await stores.replays.release(id); released++ }
  }
  const store = new RecordingStore()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(backchannelLogout, {
    issuers: { issuer: ISS, audience: CLIENT, algorithms: ['ES256'], jwks: jwks(key) },
    revocations: store,
    replays,
    storeTimeoutMs: 200
  })
  await app.ready()
  const iat = Math.floor(Date.now() / 1000)
  const token = mintToken(key, { iss: ISS, aud: CLIENT, iat, exp: iat + 120, jti: randomUUID(), sub: 'alice', sid: 'sid-1', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }, { header: { typ: 'logout+jwt' } })
  const post = () => app.inject({ method: 'POST', url: '/oidc/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ logout_token: token }).toString() })

  relay.hold() // Redis stalls (a failover, a slow fsync): commands are sent, not answered
  t.equal((await post()).statusCode, 503, 'the claim gave no answer within storeTimeoutMs')
  const retry = await post()
  t.equal(retry.statusCode, 503, 'a retry while that claim is out: come back later, not 400')
  t.equal(retry.json().code, 'WSG_UNAVAILABLE')
  t.equal(claims, 1, 'the retry sent no claim of its own behind the first')
  relay.release() // the first SET lands (OK), and is given back
  await until(() => released === 1, 'the late claim was released')
  t.equal((await post()).statusCode, 200, 'the next retry is applied')
  t.equal(store.revoked.length, 1)
  t.equal((await post()).statusCode, 400, 'and a replay after that is refused')
})
