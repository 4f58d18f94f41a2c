import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import type { Principal, Revocation, RevocationStore } from '@wsguard/core'
import { captureLogs, FakeClock, generateKey, jwks, mintToken, type CapturedLogs, type TestKey } from '@wsguard/testing'
import { backchannelLogout, BACKCHANNEL_LOGOUT_EVENT, type BackchannelLogoutOptions } from '../src/index.js'

export const ISS = 'https://idp.test'
export const CLIENT = 'feed-web'
export const T0 = 1_800_000_000_000
export const key = generateKey('ES256')

/** Logout token claims as an OP sends them (oidc-provider's shape), valid at `nowMs`. */
export function logoutClaims (nowMs = T0, over: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000)
  return {
    iss: ISS,
    aud: CLIENT,
    iat,
    exp: iat + 120,
    jti: randomUUID(),
    sub: 'alice',
    sid: 'sid-1',
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    ...over
  }
}

/** A signed logout token; `header` members replace (or, when `undefined`, remove) the defaults. */
export function logoutToken (claims: Record<string, unknown> = logoutClaims(), header: Record<string, unknown> = {}, signer: TestKey = key): string {
  const all: Record<string, unknown> = { ...claims }
  for (const name of Object.keys(all)) if (all[name] === undefined) delete all[name]
  return mintToken(signer, all, { header: { typ: 'logout+jwt', ...header } })
}

export const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString()

/** A revocation store that records what it is asked to revoke, and fails on demand. */
export class RecordingStore implements RevocationStore {
  readonly revoked: Revocation[] = []
  failWith: Error | 'never' | undefined

  async revoke (revocation: Revocation): Promise<void> {
    if (this.failWith === 'never') return await new Promise<void>(() => {})
    if (this.failWith !== undefined) throw this.failWith
    this.revoked.push(revocation)
  }

  isRevoked (_principal: Principal, _now: number): boolean { return false }
  subscribe (): () => void { return () => {} }
}

export interface LogoutApp {
  app: FastifyInstance
  store: RecordingStore
  clock: FakeClock
  logs: CapturedLogs
  post(body: string, contentType?: string): Promise<LightMyRequestResponse>
}

/** An app with the logout endpoint at its default path, on a fake clock, logging at trace. */
export async function logoutApp (t: Test, opts: Partial<BackchannelLogoutOptions> = {}, build?: (app: FastifyInstance) => void): Promise<LogoutApp> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'trace', stream: logs.stream } })
  t.teardown(() => app.close())
  const store = new RecordingStore()
  const clock = new FakeClock(T0)
  await app.register(backchannelLogout, {
    issuers: { issuer: ISS, audience: CLIENT, algorithms: ['ES256'], jwks: jwks(key) },
    revocations: store,
    clock,
    ...opts
  })
  build?.(app)
  await app.ready()
  const post = (body: string, contentType = 'application/x-www-form-urlencoded') =>
    app.inject({ method: 'POST', url: '/oidc/backchannel-logout', headers: { 'content-type': contentType }, payload: body })
  return { app, store, clock, logs, post }
}
