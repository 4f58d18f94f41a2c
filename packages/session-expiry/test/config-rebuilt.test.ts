// Z20: the handshake checks a refresh runs live on the route's config under symbol keys. An
// app's onRoute hook added after the plugins that rebuilt config without them (structuredClone,
// JSON, Object.fromEntries) left the refresh with no checks at all: a token without the route's
// scope, or of another tenant, replaced the principal. session-expiry's own check is on every
// route it governs, so its absence now refuses the refresh.
import t from 'tap'
import { captureLogs } from '@wsguard/testing'
import { harness, open } from './helpers.js'

const refresh = (token: string): { type: string, token: string } => ({ type: 'auth.refresh', token })

t.test('a refresh on a route whose config an onRoute hook rebuilt without symbol keys is refused 503-alike, and said so', async (t) => {
  const logs = captureLogs()
  const h = await harness(t, {
    logs,
    routes: (app) => {
      app.addHook('onRoute', (routeOptions) => { routeOptions.config = Object.fromEntries(Object.entries(routeOptions.config ?? {})) as never })
      app.get('/rebuilt', { websocket: true, config: { auth: { scopes: ['feed:read'] } } }, (socket) => {
        socket.on('message', (data) => { socket.send(`echo:${String(data)}`) })
      })
    }
  })
  const c = await open(t, `${h.base}/rebuilt`, h.token('alice', 600))
  t.same(await c.ask(refresh(h.token('alice', 900, { scope: 'other' }))), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' }, 'a token without the route\'s scope is not installed')
  t.same(await c.ask(refresh(h.token('alice', 900))), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' }, 'nor any other: the checks cannot run')
  t.match(logs.text(), /the route's handshake checks are gone from its config/)

  // The same route without the hook refreshes as usual.
  const fine = await open(t, `${h.base}/feed`, h.token('bob', 600))
  t.match(await fine.ask(refresh(h.token('bob', 900))), { type: 'auth.refreshed' })
})
