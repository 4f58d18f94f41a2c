// Z20: the handshake checks a refresh runs live on the route's config under symbol keys. An
// app's onRoute hook added after the plugins that rebuilt config without them (structuredClone,
// JSON, Object.fromEntries) left the refresh with no checks at all: a token without the route's
// scope, or of another tenant, replaced the principal. session-expiry's own check is on every
// route it governs, so its absence now refuses the refresh.
import t from 'tap'
import { captureLogs } from '@wsguard/testing'
import type { Principal } from '@wsguard/core'
import { bare, connect, harness, open, T0 } from './helpers.js'

const refresh = (token: string): { type: string, token: string } => ({ type: 'auth.refresh', token })

t.test('a refresh on a route whose config an onRoute hook rebuilt without symbol keys is refused 503-alike, and said so', async (t) => {
  // session-expiry with an authenticate of the app's own (auth-handshake, whose rules would be
  // gone too, refuses such a refresh itself: see the next test): only this plugin's guard stands.
  const alice: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'custom', issuer: 'https://idp.test', scopes: [], sessionId: 's1', expiresAt: T0 + 600_000, claims: {} })
  const next: Principal = Object.freeze({ ...alice, expiresAt: T0 + 900_000 })
  const { base, logs } = await bare(t, { authenticate: async () => ({ ok: true, principal: next }) }, alice, {
    build: (app) => { app.addHook('onRoute', (routeOptions) => { routeOptions.config = Object.fromEntries(Object.entries(routeOptions.config ?? {})) as never }) }
  })
  const c = await open(t, `${base}/ws`, 'any')
  t.same(await c.ask(refresh('any')), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' }, 'not installed: the checks cannot run')
  t.match(logs.text(), /the route's handshake checks are gone from its config/)
})

t.test('the same route without the hook refreshes as usual', async (t) => {
  const h = await harness(t)
  const fine = await open(t, `${h.base}/feed`, h.token('bob', 600))
  t.match(await fine.ask(refresh(h.token('bob', 900))), { type: 'auth.refreshed' })
})

// Z33 (session 32's review): the same hook added between auth-handshake and session-expiry.
// session-expiry's own check is then on the rebuilt config, so the Z20 guard above passes; the
// route's scope rules (auth-handshake's) are gone with the rest, and a refresh, through
// auth-handshake or an authenticate of the app's own, was checked without them. auth-handshake
// now refuses the handshakes of a route whose config lost its rules.
t.test('the hook between auth-handshake and session-expiry: the route\'s handshakes are refused 503, so no refresh skips its scopes', async (t) => {
  // Refused at the handshake, so whichever authenticate a refresh would use (auth-handshake's,
  // or an app's own that passes no request) never gets to check a token without the rules.
  const logs = captureLogs()
  const h = await harness(t, {
    logs,
    before: async (app) => {
      app.addHook('onRoute', (routeOptions) => { routeOptions.config = Object.fromEntries(Object.entries(routeOptions.config ?? {})) as never })
    }
  })
  t.match(await connect(t, `${h.base}/feed`, h.token('alice', 600)), { status: 503 })
  t.match(logs.text(), /lost its authentication rules/)
})
