import t from 'tap'
import { EventEmitter, once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { addHandshakeCheck, type AuthOutcome, type Principal } from '@wsguard/core'
import { bare, open, T0 } from './helpers.js'
import { DEFAULT_REFRESH_TIMEOUT_MS } from '../src/index.js'

// An app's authenticate that never answers a refresh's token held that refresh for good: its
// closures (the session, its request, the token) stayed reachable from the unsettled promise
// after the socket closed, one per refresh a client sent, and the client never heard back.
// Now the check is bounded by refreshTimeoutMs, and refused WSG_UNAVAILABLE past it.

const alice: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'custom', issuer: 'https://idp.test', scopes: [], sessionId: 's1', expiresAt: T0 + 3_600_000, claims: {} })
const refresh = { type: 'auth.refresh', token: 'next' }

/**
 * session-expiry alone, a refresh sent and held in a check that never answers: the token's
 * (`authenticate`), or with `inRouteCheck` a handshake check of the app's own on the route.
 */
async function held (t: Parameters<typeof bare>[0], opts: { refreshTimeoutMs?: number, inRouteCheck?: boolean } = {}) {
  const started = new EventEmitter()
  const never = (): Promise<never> => {
    started.emit('check')
    return new Promise<never>(() => {})
  }
  const inRouteCheck = opts.inRouteCheck === true
  const authenticate = inRouteCheck ? async (): Promise<AuthOutcome> => ({ ok: true, principal: { ...alice, expiresAt: T0 + 7_200_000 } }) : never
  const build = (app: FastifyInstance): void => {
    if (inRouteCheck) app.addHook('onRoute', (route) => { addHandshakeCheck(route, { source: 'app', check: never }) })
  }
  const app = await bare(t, { authenticate, ...(opts.refreshTimeoutMs !== undefined ? { refreshTimeoutMs: opts.refreshTimeoutMs } : {}) }, alice, { build })
  const c = await open(t, `${app.base}/ws`)
  const checking = once(started, 'check')
  c.send(refresh)
  await checking
  return { ...app, c }
}

t.test('an authenticate that never answers: the refresh is refused WSG_UNAVAILABLE at refreshTimeoutMs, and logged', async (t) => {
  const { c, clock, logs } = await held(t, { refreshTimeoutMs: 500 })
  clock.advance(499)
  t.equal(await c.ask('sync'), 'echo:sync', 'no answer 1 ms before refreshTimeoutMs')
  clock.advance(1)
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' })
  t.match(logs.text(), /the refresh's authenticate gave no answer within 500 ms.*refresh check failed; refused/)
  t.notOk(logs.text().includes('"next"'), 'the token is not logged')
})

t.test(`refreshTimeoutMs defaults to ${DEFAULT_REFRESH_TIMEOUT_MS} ms`, async (t) => {
  const { c, clock } = await held(t)
  clock.advance(DEFAULT_REFRESH_TIMEOUT_MS - 1)
  t.equal(await c.ask('sync'), 'echo:sync')
  clock.advance(1)
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' })
})

t.test('a handshake check of the app\'s own that never answers: the refresh is refused WSG_UNAVAILABLE at refreshTimeoutMs', async (t) => {
  const { c, clock, logs } = await held(t, { refreshTimeoutMs: 500, inRouteCheck: true })
  clock.advance(499)
  t.equal(await c.ask('sync'), 'echo:sync', 'no answer 1 ms before refreshTimeoutMs')
  clock.advance(1)
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' })
  t.match(logs.text(), /the route's handshake checks gave no answer within 500 ms.*a handshake check failed; refresh refused/)
})
