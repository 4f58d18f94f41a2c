import t, { type Test } from 'tap'
import { until, connectSocket, openSocket, type Refusal, type SocketClient } from '@wsguard/testing'
import { redisStores } from '../src/index.js'
import { ISS, instance, token } from './app.js'
import { principal, REDIS_URL, testClient, testPrefix } from './helpers.js'

// Found by session 21's second review: a token whose `exp` has a fraction of a millisecond
// (RFC 7519's NumericDate may; auth-handshake accepts it) gave session-expiry a fractional
// `until` for its token id record. REVOKE added it, then ran `PEXPIREAT` with the fractional
// score: Redis answered "ERR value is not an integer", the script stopped before the stream
// append, so the other instances never heard of the revocation; and since that record stayed
// the highest score, every later revocation, of any kind and from any instance, failed alike
// until it expired (the token's exp plus a day). The key's TTL is now rounded up, and the
// stream append comes before the key's bookkeeping.

async function what (url: string, token: string, t: Test): Promise<string> {
  const c = await connectSocket(url, { token, teardown: (fn) => t.teardown(fn) })
  return 'refused' in c ? `${(c as Refusal).status} ${String((c as Refusal).body.code)}` : `opened (${String(await (c as SocketClient).next())})`
}

t.test('a token with a fractional exp, revoked by its id on A, is refused on B; later revocations reach B too', async (t) => {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const storesA = redisStores({ url: REDIS_URL }, { keyPrefix })
  const storesB = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => storesA.close())
  t.teardown(() => storesB.close())
  await Promise.all([storesA.ready(), storesB.ready()])
  const a = await instance(t, storesA)
  const b = await instance(t, storesB)

  const mallory = token('mallory', { exp: Math.floor(Date.now() / 1000) + 600.0005, jti: 'mallory-1' })
  const onA = await openSocket(a.url, { token: mallory, teardown: (fn) => t.teardown(fn) })
  let revokeError: unknown
  await a.app.wsSessions.revoke({ tokenId: 'mallory-1' }).catch((err: unknown) => { revokeError = err })
  t.equal((await onA.closed).code, 4403, 'A closed the socket')
  t.equal(revokeError, undefined, `revoke({ tokenId }) succeeds (got ${String(revokeError)})`)
  // B hears of it through the stream only.
  await until(() => storesB.revocations.isRevoked(principal('mallory', { tokenId: 'mallory-1' }), Date.now()), 'B to read the revocation')
  t.equal(await what(b.url, mallory, t), '401 WSG_TOKEN_REVOKED', 'the revoked token on B')

  // Alice on B; an operator revokes her on A, afterwards: the fractional record, still the
  // highest score, must not stop this one either.
  const alice = token('alice', { jti: 'alice-1' })
  const aliceOnB = await openSocket(b.url, { token: alice, teardown: (fn) => t.teardown(fn) })
  const client = testClient(t, keyPrefix)
  const before = await client.xlen(`{${keyPrefix}}revocations`)
  let second: unknown
  await a.app.wsSessions.revoke({ subject: 'alice', issuer: ISS }).catch((err: unknown) => { second = err })
  t.equal(second, undefined, `a later, ordinary revoke({ subject }) succeeds (got ${String(second)})`)
  t.equal(await client.xlen(`{${keyPrefix}}revocations`), before + 1, 'the subject revocation is appended to the stream the other instances read')
  let code: number | undefined
  aliceOnB.closed.then((c) => { code = c.code }, () => {})
  await t.resolves(until(() => code !== undefined, 'alice\'s socket on B closed'), 'alice\'s socket on B is closed by the revocation made on A')
  t.equal(code, 4403)
  t.equal(await what(b.url, alice, t), '401 WSG_TOKEN_REVOKED', 'alice\'s token at B after she was revoked on A')
})
