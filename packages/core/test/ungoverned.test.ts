import t from 'tap'
import Fastify from 'fastify'
import { ChannelName, appIdentity, channel, refuseUngovernedRoutes, type HandshakeRejectedMessage } from '../src/index.js'

t.test('refuseUngovernedRoutes: an unhandled handshake on a route that is not exempt gets 503, logged once per route', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
  t.teardown(() => app.close())
  // What @fastify/websocket would set: request.ws for an upgrade (here, a header says so).
  app.decorateRequest('ws', false)
  app.decorateRequest('handled', false)
  app.addHook('onRequest', async (request) => {
    (request as unknown as { ws: boolean }).ws = request.headers['x-upgrade'] === '1'
    ;(request as unknown as { handled: boolean }).handled = request.headers['x-handled'] === '1'
  })
  refuseUngovernedRoutes(app, {
    source: '@wsguard/example',
    phase: 'preHandler',
    handled: (request) => (request as unknown as { handled: boolean }).handled,
    exempt: (config) => config?.skip === true,
    consequence: 'it would be ungoverned',
    optOut: 'config.skip: true'
  })
  app.get('/socket', async () => 'through')
  app.get('/skipped', { config: { skip: true } as never }, async () => 'skipped')
  const seen: HandshakeRejectedMessage[] = []
  const onRejected = (m: unknown): void => { seen.push(m as HandshakeRejectedMessage) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))

  const refused = await app.inject({ url: '/socket', headers: { 'x-upgrade': '1', origin: 'https://app.test' } })
  t.equal(refused.statusCode, 503)
  t.same(refused.json(), { statusCode: 503, code: 'WSG_UNAVAILABLE', error: 'Service Unavailable', message: 'An authentication dependency is unavailable' })
  t.equal((await app.inject({ url: '/socket', headers: { 'x-upgrade': '1' } })).statusCode, 503)
  t.match(seen, [{ source: '@wsguard/example', code: 'WSG_UNAVAILABLE', statusCode: 503, detail: 'route-not-governed', route: '/socket', origin: 'https://app.test' }, { route: '/socket' }])
  t.equal(seen[0]?.app, appIdentity(app), 'published as this app')
  const said = lines.filter((l) => l.includes('was added before the plugin'))
  t.equal(said.length, 1, 'once per route')
  t.match(JSON.parse(said[0] as string), { level: 50, route: '/socket', msg: '@wsguard/example: websocket route /socket was added before the plugin, so it would be ungoverned; its handshakes are refused. Register the plugin before the route (or set config.skip: true on it).' })

  t.equal((await app.inject({ url: '/socket', headers: { 'x-upgrade': '1', 'x-handled': '1' } })).body, 'through', 'handled by the plugin: through')
  t.equal((await app.inject({ url: '/skipped', headers: { 'x-upgrade': '1' } })).body, 'skipped', 'exempt: through')
  t.equal((await app.inject('/socket')).body, 'through', 'not an upgrade: through')
  t.equal(seen.length, 2)
})

t.test('refuseUngovernedRoutes: without an opt-out, the log line names none', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
  t.teardown(() => app.close())
  app.decorateRequest('ws', true)
  refuseUngovernedRoutes(app, { source: '@wsguard/example', phase: 'preValidation', handled: () => false, exempt: () => false, consequence: 'nothing checks it' })
  app.get('/x', async () => 'never')
  t.equal((await app.inject('/x')).statusCode, 503)
  t.match(lines.find((l) => l.includes('was added before')), /Register the plugin before the route\."/)
})
