import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'
import type { RedisStores } from '../src/index.js'

export const ISS = 'https://idp.test'
export const AUD = 'feed-api'
const key = generateKey('ES256')

export function token (sub: string, extra: Record<string, unknown> = {}): string {
  return mintToken(key, { ...claimsFor(ISS, AUD, sub, Date.now(), 600), scope: 'feed:read', ...extra })
}

/** One instance: auth-handshake and session-expiry on the shared stores, with /feed. */
export async function instance (t: Test, stores: RedisStores, maxSessionsPerPrincipal = 0): Promise<{ app: FastifyInstance, url: string }> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } })
  await app.register(sessionExpiry, {
    heartbeatMs: 0, idleTimeoutMs: 0, registry: stores.registry, revocations: stores.revocations, maxSessionsPerPrincipal
  })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('hello') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/feed` }
}
