import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { systemTimerClock, type TimerClock } from '@wsguard/core'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { claimsFor, connectSocket, generateKey, jwks, mintToken, openSocket, type Refusal, type SocketClient } from '@wsguard/testing'
import { redisStores, type RedisStores } from '../src/index.js'
import { ISS, AUD } from './app.js'
import { REDIS_URL, testClient, testPrefix } from './helpers.js'

// Instance A's clock runs 30 s behind B's (and the IdP's): NTP broken on one host, more than
// the verifier's clock tolerance (5 s). An operator revokes alice on A, which dates the subject
// record by its own clock. Alice's socket lives on B. Found by session 20's adversarial review:
// B closed it 4403, but the record's `at` was before her token's iat, so the same token opened
// again at once. Now B, closing a session whose token a delivered record does not cover,
// refuses that token by its id on every instance (session-expiry's delivery handler).

const skewed = (ms: number): TimerClock => ({ ...systemTimerClock, now: () => Date.now() + ms })

async function app (t: Test, stores: RedisStores, clock: TimerClock): Promise<{ url: string, revoke: (f: object) => Promise<unknown> }> {
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(websocket)
  await a.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(KEY) }, clock })
  await a.register(sessionExpiry, { heartbeatMs: 0, idleTimeoutMs: 0, registry: stores.registry, revocations: stores.revocations, clock })
  a.get('/feed', { websocket: true }, (socket) => { socket.send('hello') })
  await a.listen({ port: 0, host: '127.0.0.1' })
  return { url: `ws://127.0.0.1:${(a.server.address() as AddressInfo).port}/feed`, revoke: (f) => a.wsSessions.revoke(f as never) }
}

const KEY = generateKey('ES256')

for (const skewMs of [0, -30_000]) {
  t.test(`a subject revoked on an instance whose clock is ${skewMs / 1000} s off: B closes the socket and the same token stays refused`, async (t) => {
    const keyPrefix = testPrefix()
    testClient(t, keyPrefix)
    const storesA = redisStores({ url: REDIS_URL }, { keyPrefix })
    const storesB = redisStores({ url: REDIS_URL }, { keyPrefix })
    t.teardown(() => storesA.close())
    t.teardown(() => storesB.close())
    await Promise.all([storesA.ready(), storesB.ready()])
    const a = await app(t, storesA, skewed(skewMs))
    const b = await app(t, storesB, systemTimerClock)
    const alice = mintToken(KEY, { ...claimsFor(ISS, AUD, 'alice', Date.now(), 600), scope: 'feed:read', jti: `alice-${skewMs}` })
    const onB = await openSocket(b.url, { token: alice, teardown: (fn) => t.teardown(fn) })
    await a.revoke({ subject: 'alice', issuer: ISS })
    const close = await onB.closed
    t.equal(close.code, 4403, 'B closed alice\'s socket')
    const again = await connectSocket(b.url, { token: alice, teardown: (fn) => t.teardown(fn) })
    const what = 'refused' in again ? `${(again as Refusal).status} ${String((again as Refusal).body.code)}` : `opened (${String(await (again as SocketClient).next())})`
    t.equal(what, '401 WSG_TOKEN_REVOKED', `the same token at B after the revocation: ${what}`)
  })
}
