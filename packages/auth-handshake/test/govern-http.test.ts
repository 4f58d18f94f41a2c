import t, { type Test } from 'tap'
import { generateKey, jwks, mintToken, claimsFor } from '@wsguard/testing'
import { ChannelName, channel, principalOf } from '@wsguard/core'
import { buildApp, connect } from './helpers.js'

// config.governHttp: the explicit per-route opt-in that applies the handshake's checks to the
// plain HTTP half of a { handler, wsHandler } route (and its HEAD twin). Without it, that half
// is the app's (plain-requests.test.ts).
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const token = (scope: string): string => mintToken(key, { ...claimsFor(ISS, AUD, 'alice'), scope })
const bearer = (scope = 'feed:read'): Record<string, string> => ({ authorization: `Bearer ${token(scope)}` })

async function governed (t: Test) {
  const rejected: unknown[] = []
  const authenticated: unknown[] = []
  const onRejected = (m: unknown): void => { rejected.push(m) }
  const onAuthenticated = (m: unknown): void => { authenticated.push(m) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  channel(ChannelName.handshakeAuthenticated).subscribe(onAuthenticated)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))
  t.teardown(() => channel(ChannelName.handshakeAuthenticated).unsubscribe(onAuthenticated))
  let handled = 0
  const built = await buildApp(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } }, {
    routes: (app) => {
      app.route({
        method: 'GET',
        url: '/dual',
        config: { governHttp: true, auth: { scopes: ['feed:read'] } },
        handler: async (req) => { handled++; return { http: true, principal: req.principal?.id ?? null, viaRaw: principalOf(req.raw)?.id ?? null } },
        wsHandler: (socket, req) => { socket.send(JSON.stringify({ principal: req.principal })) }
      })
      app.route({
        method: 'GET',
        url: '/dual-open',
        config: { governHttp: true, auth: false },
        handler: async (req) => ({ principal: req.principal }),
        wsHandler: (socket) => { socket.send('{}') }
      })
    }
  })
  return { ...built, rejected, authenticated, handled: () => handled }
}

t.test('governHttp: the HTTP half gets the handshake\'s checks: 401 without a credential, 403 without the scope, the principal with one', async (t) => {
  const { app, rejected, authenticated, handled } = await governed(t)
  const missing = await app.inject('/dual')
  t.same([missing.statusCode, missing.json().code], [401, 'WSG_CREDENTIAL_MISSING'])
  t.match(missing.headers['www-authenticate'], /^Bearer realm="wsguard"/)
  const scope = await app.inject({ url: '/dual', headers: bearer('other') })
  t.same([scope.statusCode, scope.json().code], [403, 'WSG_INSUFFICIENT_SCOPE'])
  t.equal(handled(), 0, 'the handler never ran for a refused request')
  const ok = await app.inject({ url: '/dual', headers: bearer() })
  t.same(ok.json(), { http: true, principal: 'alice', viaRaw: 'alice' }, 'request.principal and principalOf(req.raw)')
  t.equal(rejected.length + authenticated.length, 0, 'plain requests are not handshakes: nothing published on the handshake channels')
})

t.test('governHttp: the HEAD twin runs the handler, so it is governed too', async (t) => {
  const { app, handled } = await governed(t)
  t.equal((await app.inject({ method: 'HEAD', url: '/dual' })).statusCode, 401)
  t.equal(handled(), 0)
  t.equal((await app.inject({ method: 'HEAD', url: '/dual', headers: bearer() })).statusCode, 200)
  t.equal(handled(), 1)
})

t.test('governHttp: the upgrade stays governed; config.auth: false still opts the whole route out', async (t) => {
  const { app, url } = await governed(t)
  const refused = await connect(t, url, { path: '/dual' })
  t.equal(!refused.open && refused.status, 401)
  const open = await connect(t, url, { path: '/dual', headers: bearer() })
  t.equal(open.open && (open.message.principal as { id: string }).id, 'alice')
  t.same((await app.inject('/dual-open')).json(), { principal: null }, 'opted out: no credential asked')
})

t.test('governHttp must be a boolean: registration fails, naming the route', async (t) => {
  await t.rejects(buildApp(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } }, {
    routes: (app) => { app.route({ method: 'GET', url: '/bad', config: { governHttp: 'yes' as never }, handler: async () => 'x', wsHandler: () => {} }) }
  }), { code: 'WSG_INVALID_OPTION', message: /route GET \/bad: config\.governHttp must be a boolean/ })
})

t.test('governHttp on a route added before the plugin: its HTTP requests are refused 503, never left ungoverned', async (t) => {
  const { default: Fastify } = await import('fastify')
  const { default: websocket } = await import('@fastify/websocket')
  const { authHandshake } = await import('../src/index.js')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  let handled = 0
  app.route({ method: 'GET', url: '/early', config: { governHttp: true }, handler: async () => { handled++; return 'x' }, wsHandler: () => {} })
  app.route({ method: 'GET', url: '/early-plain', handler: async () => 'plain', wsHandler: () => {} })
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } })
  const res = await app.inject({ url: '/early', headers: bearer() })
  t.same([res.statusCode, res.json().code], [503, 'WSG_UNAVAILABLE'])
  t.equal((await app.inject({ method: 'HEAD', url: '/early' })).statusCode, 503)
  t.equal(handled, 0)
  t.equal((await app.inject('/early-plain')).body, 'plain', 'a route that did not ask keeps its HTTP half')
})
