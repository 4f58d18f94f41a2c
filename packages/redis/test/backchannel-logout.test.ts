import t, { type Test } from 'tap'
import { connectSocket, generateKey, openSocket, startOidcLoginProvider, type OidcLoginProvider, type Refusal, type SocketClient } from '@wsguard/testing'
import { redisStores, type RedisStores } from '../src/index.js'
import { AUD, CLIENT_ID, oidcInstance } from './app.js'
import { REDIS_URL, testClient, testPrefix } from './helpers.js'

// oidc-provider's own back-channel logout: a user signs in at a real OP, opens sockets on two
// instances sharing the Redis stores, and logs out at the OP, which posts its logout token to
// instance A only.

async function provider (t: Test): Promise<OidcLoginProvider> {
  const op = await startOidcLoginProvider({ keys: [generateKey('ES256')], audience: AUD })
  t.teardown(() => op.close())
  return op
}

async function sharedStores (t: Test): Promise<[RedisStores, RedisStores]> {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const a = redisStores({ url: REDIS_URL }, { keyPrefix })
  const b = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  await Promise.all([a.ready(), b.ready()])
  return [a, b]
}

const open = (t: Test, url: string, token: string): Promise<SocketClient> => openSocket(url, { token, teardown: (fn) => t.teardown(fn) })
const attempt = (t: Test, url: string, token: string) => connectSocket(url, { token, teardown: (fn) => t.teardown(fn) })

t.test('a logout at the OP closes the user\'s sockets of that session on both instances (4403), and only those', async (t) => {
  const op = await provider(t)
  const [storesA, storesB] = await sharedStores(t)
  const a = await oidcInstance(t, storesA, op.issuer)
  const b = await oidcInstance(t, storesB, op.issuer)
  op.registerClient({ clientId: CLIENT_ID, backchannelLogoutUri: a.logoutUri, sessionRequired: true })

  const alice = await op.signIn('alice')
  const aliceElsewhere = await op.signIn('alice')
  const bob = await op.signIn('bob')
  t.type(alice.sid, 'string', 'the OP put its session id in the tokens')
  t.not(alice.sid, aliceElsewhere.sid, 'a second browser is a second OP session')
  const onA = await open(t, a.url, alice.accessToken)
  const onB = await open(t, b.url, alice.accessToken)
  const otherSession = await open(t, b.url, aliceElsewhere.accessToken)
  const bobs = await open(t, a.url, bob.accessToken)

  await alice.logout()
  t.same(op.deliveries, [{ ok: true }], 'the OP delivered its logout token to A, which answered 200')
  t.same(await onA.closed, { code: 4403, reason: 'access revoked' }, 'A closed its socket')
  t.same(await onB.closed, { code: 4403, reason: 'access revoked' }, 'B closed its socket: the revocation came through Redis')
  t.equal(await otherSession.ask('still here?'), 'echo:still here?', 'alice\'s other OP session keeps its socket')
  t.equal(await bobs.ask('and bob?'), 'echo:and bob?')
  for (const url of [a.url, b.url]) {
    const again = await attempt(t, url, alice.accessToken) as Refusal
    t.equal(again.status, 401, 'the logged-out session\'s token is refused at every handshake')
    t.equal(again.body.code, 'WSG_TOKEN_REVOKED')
  }
  t.notOk('refused' in await attempt(t, b.url, aliceElsewhere.accessToken), 'the other session\'s token still opens sockets')
})

t.test('without sid in its logout tokens, the OP\'s logout closes every socket of the user, on both instances', async (t) => {
  const op = await provider(t)
  const [storesA, storesB] = await sharedStores(t)
  const a = await oidcInstance(t, storesA, op.issuer)
  const b = await oidcInstance(t, storesB, op.issuer)
  op.registerClient({ clientId: CLIENT_ID, backchannelLogoutUri: a.logoutUri, sessionRequired: false })
  const alice = await op.signIn('alice')
  const aliceElsewhere = await op.signIn('alice')
  const sockets = [await open(t, a.url, alice.accessToken), await open(t, b.url, aliceElsewhere.accessToken)]
  const bobs = await open(t, b.url, (await op.signIn('bob')).accessToken)
  await alice.logout()
  t.same(op.deliveries, [{ ok: true }])
  for (const s of sockets) t.equal((await s.closed).code, 4403)
  t.equal(await bobs.ask('bob?'), 'echo:bob?')
})

t.test('the OP\'s logout token replayed to either instance is refused 400, and revokes nothing more', async (t) => {
  const op = await provider(t)
  const [storesA, storesB] = await sharedStores(t)
  let delivered: string | undefined
  const a = await oidcInstance(t, storesA, op.issuer, (app) => {
    // Reads what the OP posted, as an eavesdropper on the back channel would have it.
    app.addHook('preHandler', async (request) => { if (request.url.endsWith('/backchannel-logout')) delivered = request.body as string })
  })
  const b = await oidcInstance(t, storesB, op.issuer)
  op.registerClient({ clientId: CLIENT_ID, backchannelLogoutUri: a.logoutUri })
  const alice = await op.signIn('alice')
  await alice.logout()
  t.same(op.deliveries, [{ ok: true }])
  t.match(delivered, /^logout_token=ey/)
  const revoked = storesA.revocations.size
  for (const [name, target] of [['B', b.logoutUri], ['A', a.logoutUri]]) {
    const res = await fetch(target as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: delivered })
    t.equal(res.status, 400, `replayed to ${name as string}`)
    t.equal(res.headers.get('cache-control'), 'no-store')
    t.equal((await res.json() as { code: string }).code, 'WSG_LOGOUT_TOKEN_INVALID')
  }
  t.equal(storesA.revocations.size, revoked, 'no second revocation')
})
