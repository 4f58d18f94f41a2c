// maxSessionsPerPrincipal counts a session when its socket opens, under the principal it
// opened with. On a `config.auth: false` route the app may set request.principal itself after
// the upgrade: that session was never counted, and its end must not be uncounted either (it
// made the count NaN, which admitted every later handshake of the principal and was never
// deleted: Z12).
import t from 'tap'
import { requirePrincipal } from '@wsguard/core'
import { until } from '@wsguard/testing'
import { connect, harness, open, type Refused } from './helpers.js'

t.test('a principal the app sets after the upgrade is not counted, and its end leaves the cap as it was', async (t) => {
  const h = await harness(t, {
    session: { maxSessionsPerPrincipal: 1 },
    routes: (app) => {
      // "where the app sets the principal itself" (auth-handshake README): an in-band login.
      app.get('/open', { websocket: true, config: { auth: false } }, (socket, req) => {
        socket.on('message', async (data) => {
          const outcome = await app.wsguardAuth.authenticate(String(data), req)
          if (outcome.ok) req.principal = outcome.principal
          socket.send(outcome.ok ? `hello ${requirePrincipal(req).id}` : outcome.code)
        })
      })
    }
  })
  const alice = h.token('alice', 600)

  // Control: the cap holds before.
  const a1 = await open(t, `${h.base}/feed`, alice)
  const refused = await connect(t, `${h.base}/feed`, alice) as Refused
  t.same([refused.refused, refused.status, refused.body.code], [true, 429, 'WSG_RATE_LIMITED'], 'control: a second socket of alice is refused 429')
  a1.ws.close()
  await a1.closed

  // The open route: alice logs in after the upgrade, then leaves.
  const o = await open(t, `${h.base}/open`)
  t.equal(await o.ask(alice), 'hello alice')
  o.ws.close()
  await o.closed
  await until(() => h.app.wsSessions.size === 0, 'the open route\'s session ended')

  // The cap still holds: one socket of alice, the next refused.
  const opened = []
  for (let i = 0; i < 3; i++) {
    const c = await connect(t, `${h.base}/feed`, alice)
    opened.push('refused' in c ? (c as Refused).status : 101)
  }
  t.same(opened, [101, 429, 429], 'maxSessionsPerPrincipal: 1 still refuses the second')
  t.equal(h.app.wsSessions.size, 1)
})
