// What the framework tests share: the issuer, tokens on the fake clock, the three plugins
// registered as the recipes in docs/recipes/ register them, and a WebSocket class that puts
// the credential in the handshake.
import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { Test } from 'tap'
import { credentialWebSocket, type CredentialWebSocketClass } from '@wsguard/client'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry, type SessionExpiryOptions } from '@wsguard/session-expiry'
import { topicAuthz } from '@wsguard/topic-authz'
import { channel, type ChannelName } from '@wsguard/core'
import { claimsFor, FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'

export const ISS = 'https://idp.test'
export const AUD = 'orders-api'
/** A whole second, so token times (seconds) line up with the fake clock (ms). */
export const T0 = 1_800_000_000_000
export const key = generateKey('ES256')

/** A token of `sub` (tenant `acme`, scope `orders:read`) valid for `lifetimeS` from the clock's now. */
export function token (clock: FakeClock, sub: string, lifetimeS: number): string {
  return mintToken(key, { ...claimsFor(ISS, AUD, sub, clock.now(), lifetimeS), scope: 'orders:read', tenant: 'acme' })
}

/** A token that expired `agoMs` before the clock's now: still inside auth-handshake's 5 s clock tolerance. */
export function expiredToken (clock: FakeClock, sub: string, agoMs: number): string {
  const issued = clock.now() - 60_000 - agoMs
  return mintToken(key, { ...claimsFor(ISS, AUD, sub, issued, 60), scope: 'orders:read', tenant: 'acme' })
}

/**
 * auth-handshake, topic-authz and session-expiry on one fake clock: tokens of this issuer
 * with a `tenant` claim; topic `orders.<tenant>` allowed to its own tenant; sessions that get
 * their notice 60 s before expiry and are closed 4401 5 s after it.
 */
export async function registerWsguard (app: FastifyInstance, clock: FakeClock, session: Omit<SessionExpiryOptions, 'clock'> = {}): Promise<void> {
  await app.register(authHandshake, {
    jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), claims: Type.Object({ tenant: Type.String() }) },
    clock
  })
  await app.register(topicAuthz, {
    policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], scopes: ['orders:read'], where: { tenant: 'claims.tenant' } }]
  })
  await app.register(sessionExpiry, { noticeMs: 60_000, graceMs: 5_000, heartbeatMs: 0, idleTimeoutMs: 0, ...session, clock })
}

/** Every text frame a client received, across every socket a class below made. */
export type Frames = string[]

/**
 * `@wsguard/client`'s WebSocket class (`credentialWebSocket`), as the recipes in
 * docs/recipes/ use it: the credential as a `bearer.<token>` subprotocol entry after the
 * framework's own protocols and `protocols` (tRPC offers none: a lone `bearer.` entry would
 * be stripped, and a client that offered a protocol fails on an answer that selects none).
 * `getToken()` is asked at each construction, so a client that reconnects brings a fresh
 * token. Each socket it makes records the text frames it receives in `frames`.
 */
export function recordingWebSocket (getToken: () => string, frames: Frames, protocols: string[] = []): CredentialWebSocketClass {
  const Base = credentialWebSocket({ getToken, protocols })
  return class RecordingWebSocket extends Base {
    constructor (...args: ConstructorParameters<CredentialWebSocketClass>) {
      super(...args)
      this.addEventListener('message', (event) => { frames.push(String(event.data)) })
    }
  }
}

/** A channel's messages, collected for the test's duration. */
export function record<M> (t: Test, name: ChannelName): { seen: M[] } {
  const seen: M[] = []
  const listener = (m: unknown): void => { seen.push(m as M) }
  channel(name).subscribe(listener as never)
  t.teardown(() => channel(name).unsubscribe(listener as never))
  return { seen }
}
