import type { Test } from 'tap'
import type { Cluster, Redis } from 'ioredis'
import type { Revocation, SessionInfo } from '@wsguard/core'
import { until } from '@wsguard/testing'
import { redisStores, type RedisStores, type RedisStoresOptions } from '../src/index.js'
import { deleteKeys, principal, revocation, testPrefix } from './helpers.js'

export const info = (id: string, sub: string | null, issuer = 'https://idp.test'): SessionInfo => ({
  id, route: '/feed', remoteAddress: '127.0.0.1', principal: sub === null ? null : principal(sub, { issuer }), openedAt: 1, deadline: 2, instance: 'x'
})

/**
 * The stores' behaviour on one Redis deployment; `connect` makes a client of it (a Redis, or
 * a Cluster). Each test has its own key prefix, and its keys are deleted in teardown.
 */
export function storeSuite (t: Test, connect: () => Redis | Cluster): void {
  interface Setup { client: Redis | Cluster, tag: string, make: (o?: RedisStoresOptions) => Promise<RedisStores> }
  async function setup (t: Test, opts: RedisStoresOptions = {}): Promise<Setup> {
    const keyPrefix = testPrefix()
    const client = connect()
    t.teardown(async () => {
      await deleteKeys(client, keyPrefix)
      client.disconnect()
    })
    const make = async (o: RedisStoresOptions = {}): Promise<RedisStores> => {
      const stores = redisStores({ client }, { keyPrefix, ...opts, ...o })
      t.teardown(() => stores.close())
      await stores.ready()
      return stores
    }
    return { client, tag: `{${keyPrefix}}`, make }
  }

  t.test('a revocation reaches every instance\'s subscribers and mirror; isRevoked answers at once', async (t) => {
    const { make } = await setup(t)
    const a = await make()
    const b = await make()
    const seen: Revocation[] = []
    b.revocations.subscribe((r) => seen.push(r))
    const unsubscribed: Revocation[] = []
    a.revocations.subscribe((r) => unsubscribed.push(r))()
    const now = Date.now()
    await a.revocations.revoke(revocation({ subject: 'alice', issuer: 'https://idp.test' }))
    t.equal(a.revocations.isRevoked(principal('alice'), now), true, 'on the issuing instance as soon as revoke() resolves')
    await until(() => seen.length === 1, 'B delivered it')
    t.same(seen[0]?.filter, { issuer: 'https://idp.test', subject: 'alice' })
    t.equal(unsubscribed.length, 0)
    const answer = b.revocations.isRevoked(principal('alice'), now)
    t.equal(answer, true, 'a boolean, not a promise: no Redis round trip')
    t.equal(b.revocations.isRevoked(principal('alice', { issuer: 'https://other.test' }), now), false)
    t.equal(b.revocations.isRevoked(principal('alice', { claims: { iat: now / 1000 + 60 } }), now), false, 'a token issued after')
    await a.revocations.revoke(revocation({ tokenId: 'jti-1' }))
    await a.revocations.revoke(revocation({ sessionId: 'sid-bob' }))
    await a.revocations.revoke(revocation({ issuer: 'https://bad.test' }))
    await a.revocations.revoke(revocation({ sessionId: 'sid-erin', issuer: 'https://idp.test' }))
    await until(() => b.revocations.size === 5, 'B mirrored all five')
    t.equal(b.revocations.isRevoked(principal('erin'), now), true, 'a session of one issuer')
    t.equal(b.revocations.isRevoked(principal('erin', { issuer: 'https://other.test' }), now), false, 'the same sid at another issuer')
    t.equal(b.revocations.isRevoked(principal('carol', { tokenId: 'jti-1' }), now), true)
    t.equal(b.revocations.isRevoked(principal('bob'), now), true)
    t.equal(b.revocations.isRevoked(principal('dave', { issuer: 'https://bad.test' }), now), true)
    t.equal(b.revocations.isRevoked(principal('dave', { issuer: undefined }), now), false)
    t.equal(b.revocations.isRevoked(principal('carol'), now + 120_000), false, 'past until')
  })

  t.test('a fresh instance loads the records kept; their key lives no longer than the latest until', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make()
    const until1 = Date.now() + 30_000
    await a.revocations.revoke(revocation({ subject: 'alice' }, until1))
    await a.revocations.revoke(revocation({ subject: 'gone' }, Date.now() - 1))
    const fresh = await make()
    t.equal(fresh.revocations.isRevoked(principal('alice'), Date.now()), true)
    t.equal(fresh.revocations.isRevoked(principal('gone'), Date.now()), false)
    const ttl = await client.pttl(`${tag}revoked`)
    t.ok(ttl > 0 && ttl <= until1 - Date.now() + 50, `the records' TTL (${ttl} ms) ends with the latest until`)
    t.equal(await client.zcard(`${tag}revoked`), 1, 'the expired record was dropped')
  })

  t.test('the stream is bounded, and entries that are not revocations are skipped', async (t) => {
    const { client, tag, make } = await setup(t, { streamMaxLen: 100 })
    const a = await make()
    const b = await make()
    await client.xadd(`${tag}revocations`, '*', 'r', '{"not":"a revocation"}')
    await client.xadd(`${tag}revocations`, '*', 'r', 'not json')
    await client.xadd(`${tag}revocations`, '*', 'other', 'x')
    for (let i = 0; i < 400; i++) await a.revocations.revoke(revocation({ tokenId: `jti-${i}` }))
    await until(() => b.revocations.size === 400, 'B mirrored every revocation')
    const length = await client.xlen(`${tag}revocations`)
    t.ok(length < 400, `trimmed to about 100 (${length})`)
  })

  t.test('an id is claimed once across instances until its until; release frees it; racing claims, one wins', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make()
    const b = await make()
    const end = Date.now() + 30_000
    t.equal(await a.replays.claim('bcl:x', end), true, 'first use')
    t.equal(await b.replays.claim('bcl:x', end), false, 'replayed to B')
    t.equal(await a.replays.claim('bcl:x', end), false, 'replayed to A')
    const ttl = await client.pttl(`${tag}replay:bcl:x`)
    t.ok(ttl > 28_000 && ttl <= 30_000, `the key lives until the id's until (${ttl} ms)`)
    await a.replays.release('bcl:x')
    t.equal(await b.replays.claim('bcl:x', end), true, 'released: a retry is no replay')
    const answers = await Promise.all([a, b, a, b, a, b].map((s) => s.replays.claim('bcl:race', end)))
    t.equal(answers.filter((first) => first).length, 1, 'exactly one of six racing claims wins')
    t.equal(await a.replays.claim('bcl:past', Date.now() - 5), true, 'an until already past keeps the key for 1 ms')
    await until(async () => await client.exists(`${tag}replay:bcl:past`) === 0, 'and it expires')
    for (const [id, end2] of [['', end], ['x'.repeat(257), end], ['x', Number.NaN]] as const) {
      await t.rejects(a.replays.claim(id, end2), { name: 'TypeError', message: /@wsguard\/redis replays:/ })
    }
    await t.rejects(a.replays.release(''), { name: 'TypeError' })
  })

  t.test('sessions are listed and counted across instances, per issuer and subject', async (t) => {
    const { make } = await setup(t)
    const a = await make()
    const b = await make()
    await a.registry.add(info('a1', 'alice'))
    await a.registry.add(info('a2', 'alice', 'https://other.test'))
    await b.registry.add(info('b1', 'alice'))
    await b.registry.add(info('b2', null))
    t.equal(await a.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 2)
    t.equal(await b.registry.count({ subject: 'alice', issuer: 'https://other.test' }), 1)
    t.equal(await b.registry.count({ subject: 'alice' }), 0, 'no issuer is a principal of its own')
    t.equal((await b.registry.list()).length, 4)
    t.same((await b.registry.list({ subject: 'alice', issuer: 'https://idp.test' })).map((s) => s.id).sort(), ['a1', 'b1'])
    t.same((await b.registry.list({ sessionId: 'b2' })).map((s) => s.id), ['b2'])
    t.same((await b.registry.list({ sessionId: 'sid-alice', issuer: 'https://other.test' })).map((s) => s.id), ['a2'])
    t.same((await b.registry.list({ sessionId: 'b2', issuer: 'https://idp.test' })).map((s) => s.id), [], 'an anonymous session has no issuer')
    t.same((await b.registry.list({ tokenId: 'none' })).map((s) => s.id), [])
    t.same((await b.registry.list({ issuer: 'https://other.test' })).map((s) => s.id), ['a2'])
    await a.registry.update({ ...info('a1', 'alice'), deadline: 99 })
    await a.registry.update(info('unknown', 'alice'))
    t.equal((await b.registry.list({ sessionId: 'a1' }))[0]?.deadline, 99)
    await a.registry.remove('a1')
    await a.registry.remove('a1')
    await b.registry.remove('b2')
    t.equal(await b.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 1)
    t.equal(a.registry.size, 1)
    await a.close()
    t.equal(await b.registry.count({ subject: 'alice', issuer: 'https://other.test' }), 0, 'a closed instance removed its sessions')
    t.equal((await b.registry.list()).length, 1)
  })

  t.test('an instance whose keys were lost writes its sessions again at its next heartbeat', async (t) => {
    const { client, tag, make } = await setup(t)
    const a = await make({ instance: 'inst-a' })
    await a.registry.add(info('a1', 'alice'))
    await client.del(`${tag}s:inst-a`, `${tag}c:inst-a`)
    t.equal(await a.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 0)
    await a.registry.heartbeat()
    t.equal(await a.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 1)
    t.equal((await a.registry.list()).length, 1)
  })

  t.test('an instance that dies without cleaning up drops out, and its keys expire', async (t) => {
    const { client, tag, make } = await setup(t, { heartbeatMs: 50, heartbeatTtlMs: 300 })
    const survivor = await make()
    const deadClient = connect()
    const dead = redisStores({ client: deadClient }, { keyPrefix: tag.slice(1, -1), heartbeatMs: 50, heartbeatTtlMs: 300, instance: 'dead' })
    await dead.ready()
    await dead.registry.add(info('d1', 'alice'))
    t.equal(await survivor.registry.count({ subject: 'alice', issuer: 'https://idp.test' }), 1)
    // Its connection is gone: no heartbeat reaches Redis any more, nothing is cleaned up.
    deadClient.disconnect()
    await until(async () => await survivor.registry.count({ subject: 'alice', issuer: 'https://idp.test' }) === 0, 'the dead instance dropped out', { timeoutMs: 5_000 })
    t.equal((await survivor.registry.list()).length, 0)
    await until(async () => await client.exists(`${tag}s:dead`, `${tag}c:dead`) === 0, 'its keys expired', { timeoutMs: 5_000 })
    await dead.close()
  })
}
