import t from 'tap'
import { handshakeChecksOf } from '@wsguard/core'
import { harness, open } from './helpers.js'

t.test('a request that is not an upgrade is no handshake; an upgrade\'s route lists the revocation check', async (t) => {
  const { app, base, token } = await harness(t, {
    routes: (app) => {
      app.route({
        method: 'GET',
        url: '/both',
        config: { auth: false },
        handler: async () => 'the app\'s own HTTP side',
        wsHandler: (socket, req) => { socket.send(JSON.stringify(handshakeChecksOf(req).map((c) => c.source))) }
      })
    }
  })
  const plain = await app.inject('/both')
  t.same([plain.statusCode, plain.body], [200, 'the app\'s own HTTP side'])
  const c = await open(t, `${base}/both`, token('alice', 60))
  t.same(await c.next(), ['@wsguard/session-expiry'], 'an opted-out route has no scope rule, only the revocation check')
})
