import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { until, claimsFor, connectSocket, generateKey, jwks, mintToken, openSocket, type Refusal, type SocketClient } from '@wsguard/testing'
import { redisStores, type RedisStores } from '../src/index.js'
import { ISS, AUD } from './app.js'
import { REDIS_URL, testClient, testPrefix } from './helpers.js'

// Found by session 21's second review: a token whose `exp` has a fraction of a millisecond
// (RFC 7519's NumericDate may; auth-handshake accepts it) gave session-expiry a fractional
// `until` for its token id record. REVOKE added it, then ran `PEXPIREAT` with the fractional
// score: Redis answered "ERR value is not an integer", the script stopped before the stream
// append, so the other instances never heard of the revocation; and since that record stayed
// the highest score, every later revocation, of any kind and from any instance, failed alike
// until it expired (the token's exp plus a day). The key's TTL is now rounded up, and the
// stream append comes before the key's bookkeeping.

const KEY = generateKey('ES256')

async function app (t: Test, stores: RedisStores): Promise<{ url: string, revoke: (f: object) => Promise<unknown> }> {
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(websocket)
  await a.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(KEY) } })
  await a.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, registry: stores.registry, revocations: stores.revocations })
  a.get('/feed', { websocket: true }, (socket) => { socket.send('hello') })
  await a.listen({ port: 0, host: '127.0.0.1' })
  return { url: `ws://127.0.0.1:${(a.server.address() as AddressInfo).port}/feed`, revoke: (f) => a.wsSessions.revoke(f as never) }
}

async function what (url: string, token: string, t: Test): Promise<string> {
  const c = await connectSocket(url, { token, teardown: (fn) => t.teardown(fn) })
  return 'refused' in c ? `${(c as Refusal).status} ${String((c as Refusal).body.code)}` : `opened (${String(await (c as SocketClient).next())})`
}

t.test('a token with a fractional exp, revoked by its id on A, opens on B; later revocations never reach B either', async (t) => {
  const keyPrefix = testPrefix()
  testClient(t, keyPrefix)
  const storesA = redisStores({ url: REDIS_URL }, { keyPrefix })
  const storesB = redisStores({ url: REDIS_URL }, { keyPrefix })
  t.teardown(() => storesA.close())
  t.teardown(() => storesB.close())
  await Promise.all([storesA.ready(), storesB.ready()])
  const a = await app(t, storesA)
  const b = await app(t, storesB)

  const claims = claimsFor(ISS, AUD, 'mallory', Date.now(), 600)
  const mallory = mintToken(KEY, { ...claims, exp: (claims.exp as number) + 0.0005, scope: 'feed:read', jti: 'mallory-1' })
  const onA = await openSocket(a.url, { token: mallory, teardown: (fn) => t.teardown(fn) })
  let revokeError: unknown
  await a.revoke({ tokenId: 'mallory-1' }).catch((err: unknown) => { revokeError = err })
  t.equal((await onA.closed).code, 4403, 'A closed the socket')
  t.equal(revokeError, undefined, `revoke({ tokenId }) succeeds (got ${String(revokeError)})`)
  // A's revoke put nothing in the stream (below): B, which reads only the stream once loaded, can never refuse it.
  t.equal(await what(b.url, mallory, t), '401 WSG_TOKEN_REVOKED', 'the revoked token on B')

  // Alice on B; an operator revokes her on A, afterwards. Nothing reaches the stream, so B
  // (which reads only the stream once loaded) never hears of it: checked without waiting, by
  // the stream's length and by a fresh handshake of alice's token at B.
  const alice = mintToken(KEY, { ...claimsFor(ISS, AUD, 'alice', Date.now(), 600), scope: 'feed:read', jti: 'alice-1' })
  const aliceOnB = await openSocket(b.url, { token: alice, teardown: (fn) => t.teardown(fn) })
  const client = testClient(t, keyPrefix)
  const before = await client.xlen(`{${keyPrefix}}revocations`)
  let second: unknown
  await a.revoke({ subject: 'alice', issuer: ISS }).catch((err: unknown) => { second = err })
  t.equal(second, undefined, `a later, ordinary revoke({ subject }) succeeds (got ${String(second)})`)
  t.equal(await client.xlen(`{${keyPrefix}}revocations`), before + 1, 'the subject revocation is appended to the stream the other instances read')
  let code: number | undefined
  aliceOnB.closed.then((c) => { code = c.code }, () => {})
  await t.resolves(until(() => code !== undefined, 'alice\'s socket on B closed'), 'alice\'s socket on B is closed by the revocation made on A')
  t.equal(code, 4403)
  t.equal(await what(b.url, alice, t), '401 WSG_TOKEN_REVOKED', 'alice\'s token at B after she was revoked on A')
})
