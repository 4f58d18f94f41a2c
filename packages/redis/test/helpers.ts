import { randomUUID } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { Cluster, Redis } from 'ioredis'
import type { Principal, Revocation } from '@wsguard/core'
import type { RedisStores, RedisStoresOptions } from '../src/index.js'

export const REDIS_URL = 'redis://127.0.0.1:6379'

/** A key prefix of its own for one test. */
export function testPrefix (): string {
  return `wsg-test-${randomUUID().slice(0, 8)}:`
}

/** Deletes every key under the prefix's hash tag (on each master of a Cluster). */
export async function deleteKeys (client: Redis | Cluster, prefix: string): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  let deleted = 0
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000)
      cursor = next
      for (const k of keys) deleted += await node.del(k)
    } while (cursor !== '0')
  }
  return deleted
}

/** A client for the test, closed (its keys deleted first) in teardown. */
export function testClient (t: Test, prefix: string, make: () => Redis | Cluster = () => new Redis(REDIS_URL)): Redis | Cluster {
  const client = make()
  t.teardown(async () => {
    await deleteKeys(client, prefix)
    client.disconnect()
  })
  return client
}

/**
 * A TCP relay to Redis that can be stopped (every connection cut, new ones refused) and
 * started again on its port, or hold what clients send (connections stay up, Redis hears
 * nothing: commands go unanswered) until released.
 */
export interface Relay {
  readonly url: string
  stop(): Promise<void>
  start(): Promise<void>
  hold(): void
  release(): void
}

/**
 * `cutOn`: called with each chunk a client sends; when it answers true, the chunk is not
 * passed on and the relay stops at once (every connection cut, no new one taken until `start`).
 */
export async function startRelay (t: Test, target = 6379, cutOn?: (chunk: Buffer) => boolean): Promise<Relay> {
  const sockets = new Set<Socket>()
  let server: Server
  let port = 0
  let held: Array<() => void> | undefined
  const listen = async (): Promise<void> => {
    server = createServer((client) => {
      const upstream = connect(target, '127.0.0.1')
      sockets.add(client).add(upstream)
      client.on('data', (chunk: Buffer) => {
        if (cutOn?.(chunk) === true) {
          stop().catch(() => {})
          return
        }
        if (held === undefined) upstream.write(chunk)
        else held.push(() => upstream.write(chunk))
      })
      upstream.pipe(client)
      const cut = (): void => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
      client.on('error', cut).on('close', cut)
      upstream.on('error', cut).on('close', cut)
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  }
  const stop = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const s of sockets) s.destroy()
    sockets.clear()
    await closed
  }
  await listen()
  t.teardown(stop)
  const release = (): void => {
    const queued = held ?? []
    held = undefined
    for (const send of queued) send()
  }
  return { url: `redis://127.0.0.1:${port}`, stop, start: listen, hold: () => { held ??= [] }, release }
}

export const principal = (id: string, extra: Partial<Principal> = {}): Principal => Object.freeze({
  id, kind: 'user', method: 'jwt', issuer: 'https://idp.test', scopes: [], claims: { iat: 1_000 }, sessionId: `sid-${id}`, ...extra
})

export const revocation = (filter: Revocation['filter'], until = Date.now() + 60_000): Revocation => ({ filter, at: Date.now(), until })

/** One instance (its `options`, on `url`) that has revoked alice, with a client on its prefix. */
export async function aliceRevoked (t: Test, options: Partial<RedisStoresOptions> = {}, url = REDIS_URL): Promise<{ a: RedisStores, client: Redis | Cluster, keyPrefix: string }> {
  const { redisStores } = await import('../src/index.js')
  const keyPrefix = testPrefix()
  const client = testClient(t, keyPrefix)
  const a = redisStores({ url }, { keyPrefix, ...options })
  t.teardown(() => a.close())
  await a.ready()
  await a.revocations.revoke(revocation({ subject: 'alice' }))
  return { a, client, keyPrefix }
}

/**
 * `aliceRevoked` through a relay, her record in Redis; the relay is cut, `meanwhile` runs
 * against Redis (as the instance cannot see it), and the relay comes back: resolves once the
 * instance has recovered.
 */
export async function revokedThenCutOff (t: Test, meanwhile: (client: Redis | Cluster, keyPrefix: string) => Promise<unknown>): Promise<{ a: RedisStores, client: Redis | Cluster, keyPrefix: string }> {
  const relay = await startRelay(t)
  const { a, client, keyPrefix } = await aliceRevoked(t, {}, relay.url)
  const { until } = await import('@wsguard/testing')
  await until(async () => await client.zcard(`{${keyPrefix}}revoked`) === 1, 'alice recorded')
  const down = new Promise((resolve) => { a.events.once('unavailable', resolve) })
  await relay.stop()
  await down
  await meanwhile(client, keyPrefix)
  const up = new Promise((resolve) => { a.events.once('recovered', resolve) })
  await relay.start()
  await up
  return { a, client, keyPrefix }
}
