import t from 'tap'
import Fastify, { type FastifySchema } from 'fastify'
import { ChannelName, appIdentity, channel, refuseLostRouteState, refuseUngovernedRoutes, type HandshakeRejectedMessage } from '../src/index.js'

// @fastify/websocket marks each `websocket: true` route with `schema.hide` (not a key FastifySchema declares).
const hidden = { hide: true } as FastifySchema
// A websocket route as @fastify/websocket declares it (`websocket: true`, which the guard's onRoute reads) and marks it.
const websocketRoute = { schema: hidden, websocket: true } as { schema: FastifySchema }

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
  app.get('/socket', websocketRoute, async () => 'through')
  app.get('/skipped', { ...websocketRoute, config: { skip: true } as never }, async () => 'skipped')
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
  t.match(JSON.parse(said[0] as string), { level: 50, route: '/socket', msg: '@wsguard/example: websocket route /socket was added before the plugin, so it would be ungoverned; its handshakes are refused. Register the plugin before the route (then config.skip: true opts it out).' })

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
  app.get('/x', websocketRoute, async () => 'never')
  t.equal((await app.inject('/x')).statusCode, 503)
  t.match(lines.find((l) => l.includes('was added before')), /Register the plugin before the route\."/)
})

t.test('refuseUngovernedRoutes: unknown paths and HEAD-only routes are left alone, with no log line and no rejection', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
  t.teardown(() => app.close())
  app.decorateRequest('ws', true)
  refuseUngovernedRoutes(app, { source: '@wsguard/example', phase: 'preHandler', handled: () => false, exempt: () => false, consequence: 'nothing checks it' })
  app.get('/feed', websocketRoute, async () => 'never')
  app.route({ method: ['GET', 'HEAD'], url: '/both', ...websocketRoute, handler: async () => 'never' })
  const seen: HandshakeRejectedMessage[] = []
  const onRejected = (m: unknown): void => { seen.push(m as HandshakeRejectedMessage) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))

  t.equal((await app.inject('/nowhere')).statusCode, 404, 'an upgrade to an unknown path is a plain 404')
  t.equal((await app.inject({ method: 'HEAD', url: '/feed' })).statusCode, 200, 'the HEAD twin of a GET route never upgrades: not refused')
  t.equal((await app.inject('/feed')).statusCode, 503, 'the GET is refused')
  t.equal((await app.inject({ method: 'HEAD', url: '/both' })).statusCode, 503, 'a route declared for GET and HEAD upgrades a HEAD request: refused')
  t.same(seen.map((m) => m.route), ['/feed', '/both'])
  t.equal(lines.filter((l) => l.includes('was added before')).length, 2)
  t.notOk(lines.some((l) => l.includes('undefined')), 'no line names an undefined route')
})

t.test('refuseUngovernedRoutes: an upgrade to a route not marked as a websocket route gets 400 before the upgrade, with no log line', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
  t.teardown(() => app.close())
  app.decorateRequest('ws', true)
  refuseUngovernedRoutes(app, { source: '@wsguard/example', phase: 'preHandler', handled: (r) => r.headers['x-handled'] === '1', exempt: () => false, consequence: 'nothing checks it' })
  let reached = 0
  app.get('/plain', async () => { reached++; return 'through' })
  const seen: HandshakeRejectedMessage[] = []
  const onRejected = (m: unknown): void => { seen.push(m as HandshakeRejectedMessage) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))

  const refused = await app.inject('/plain')
  t.same([refused.statusCode, refused.json().code], [400, 'WSG_BAD_REQUEST'], 'a plain route or a { handler, wsHandler } route: never upgraded ungoverned')
  t.equal(reached, 0, 'the route handler (which would upgrade) never runs')
  t.match(seen, [{ source: '@wsguard/example', code: 'WSG_BAD_REQUEST', statusCode: 400, detail: 'not-a-websocket-route', route: '/plain' }])
  t.equal(seen.length, 1)
  t.equal(lines.filter((l) => l.includes('was added before')).length, 0, 'no log line: it is most likely a plain route')
  t.equal((await app.inject({ url: '/plain', headers: { 'x-handled': '1' } })).body, 'through', 'a handled upgrade goes through')
})

t.test('refuseUngovernedRoutes: the opt-out is read on websocket routes only; a { handler, wsHandler } route added after the guard is one', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorateRequest('ws', true)
  const wsHandler = (): void => {}
  // Before the guard: a { handler, wsHandler } route carries no mark at all.
  app.route({ method: 'GET', url: '/early-ws-handler', handler: async () => 'early', wsHandler, config: { skip: true } } as never)
  // Before the guard, a websocket: true route is told by the schema.hide @fastify/websocket gives it
  // (which a plain route sharing its schema object gets too, and an app may set): never let through.
  app.get('/early-websocket', { schema: hidden, config: { skip: true } as never }, async () => 'early websocket')
  refuseUngovernedRoutes(app, { source: '@wsguard/example', phase: 'preHandler', handled: () => false, exempt: (config) => config?.skip === true, consequence: 'nothing checks it' })
  const appConfig = { skip: true }
  // A plain route whose config holds the opt-out key (an app's own mark for its public routes).
  app.get('/public', { config: appConfig as never }, async () => 'public')
  app.route({ method: 'GET', url: '/late-ws-handler', handler: async () => 'late', wsHandler, config: appConfig } as never)
  app.get('/late-websocket', { ...websocketRoute, config: { skip: true } as never }, async () => 'websocket')
  // A plain route that sets schema.hide itself (to stay out of API docs), and one that tries the old global mark.
  app.get('/hidden-plain', { schema: hidden, config: { skip: true } as never }, async () => 'hidden')
  app.get('/spoofed', { config: { skip: true, [Symbol.for('@wsguard/core.websocketRoute')]: true } as never }, async () => 'spoofed')
  await app.ready()

  const status = async (url: string): Promise<[number, string]> => {
    const r = await app.inject(url)
    return [r.statusCode, r.statusCode === 200 ? r.body : r.json().code]
  }
  t.same(await status('/public'), [400, 'WSG_BAD_REQUEST'], 'a plain route: refused before the upgrade whatever its config')
  t.same(await status('/late-ws-handler'), [200, 'late'], 'a { handler, wsHandler } route added after the guard: its opt-out holds')
  t.same(await status('/late-websocket'), [200, 'websocket'], 'a websocket: true route: its opt-out holds')
  t.same(await status('/early-ws-handler'), [400, 'WSG_BAD_REQUEST'], 'a { handler, wsHandler } route added before: cannot be told from a plain route, refused')
  t.same(await status('/early-websocket'), [503, 'WSG_UNAVAILABLE'], 'a websocket: true route added before the guard: its opt-out cannot be trusted (schema.hide is writable), refused as ungoverned')
  t.same(await status('/hidden-plain'), [400, 'WSG_BAD_REQUEST'], 'a plain route added after the guard is plain, whatever its schema.hide')
  t.same(await status('/spoofed'), [400, 'WSG_BAD_REQUEST'], 'no config an app writes makes a plain route a websocket route')
  t.same(appConfig, { skip: true }, "the app's config object is not changed")

  // A guard whose exemption means "nothing here for the plugin" holds it on early routes too.
  const nothingHere = Fastify()
  t.teardown(() => nothingHere.close())
  nothingHere.decorateRequest('ws', true)
  nothingHere.get('/early-websocket', { schema: hidden }, async () => 'no topics')
  refuseUngovernedRoutes(nothingHere, { source: '@wsguard/example', phase: 'preHandler', handled: () => false, exempt: () => true, exemptUnseen: true, consequence: 'nothing checks it' })
  t.equal((await nothingHere.inject('/early-websocket')).body, 'no topics')
  t.same(Object.getOwnPropertySymbols(appConfig), [])
})

t.test('refuseUngovernedRoutes: a plain request to a route that asks for its HTTP requests to be governed (config.governHttp) and was not admitted gets 503', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
  t.teardown(() => app.close())
  app.decorateRequest('ws', false)
  refuseUngovernedRoutes(app, {
    source: '@wsguard/example',
    phase: 'preHandler',
    handled: (r) => r.headers['x-handled'] === '1',
    exempt: (config) => config?.skip === true,
    consequence: 'it has no authentication',
    optOut: 'config.skip: true'
  })
  let reached = 0
  app.get('/asked', { config: { governHttp: true } }, async () => { reached++; return 'through' })
  app.get('/asked-skipped', { config: { governHttp: true, skip: true } as never }, async () => 'skipped')
  app.get('/plain', async () => 'plain')
  app.post('/asked-post', { config: { governHttp: true } }, async () => 'post')
  const seen: HandshakeRejectedMessage[] = []
  const onRejected = (m: unknown): void => { seen.push(m as HandshakeRejectedMessage) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))

  const refused = await app.inject('/asked')
  t.same([refused.statusCode, refused.json().code], [503, 'WSG_UNAVAILABLE'], 'the app asked; nothing governed it: refused')
  t.equal((await app.inject({ method: 'HEAD', url: '/asked' })).statusCode, 503, 'its HEAD twin runs the same handler: refused too')
  t.equal(reached, 0)
  const said = lines.filter((l) => l.includes('asks for its HTTP requests'))
  t.equal(said.length, 1, 'logged once per route')
  t.match(JSON.parse(said[0] as string), { level: 50, route: '/asked', msg: '@wsguard/example: route /asked asks for its HTTP requests to be governed (config.governHttp) but was added before the plugin, so it has no authentication; its requests are refused. Register the plugin before the route (then config.skip: true opts it out).' })
  t.equal(seen.length, 0, 'not a handshake: nothing published on the handshake channel')
  t.equal((await app.inject({ url: '/asked', headers: { 'x-handled': '1' } })).body, 'through', 'admitted by the plugin: through')
  t.equal((await app.inject('/asked-skipped')).body, 'skipped', 'exempt: through')
  t.equal((await app.inject('/plain')).body, 'plain', 'a route that did not ask: untouched')
  t.equal((await app.inject({ method: 'POST', url: '/asked-post' })).body, 'post', 'only GET and HEAD can be the HTTP half of a websocket route')
  t.equal((await app.inject('/nowhere')).statusCode, 404, 'no route: the not-found answer')
})

t.test('refuseLostRouteState: 503, an upgrade\'s refusal published as route-not-governed, the route logged once', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
  t.teardown(() => app.close())
  app.decorateRequest('ws', false)
  const said = new Set<string>()
  app.get('/lost', {
    onRequest (request, reply) {
      ;(request as unknown as { ws: boolean }).ws = request.headers['x-upgrade'] === '1'
      refuseLostRouteState(request, reply, { source: '@wsguard/example', route: '/lost', what: 'its rules', said, started: 0, principal: null })
    }
  }, async () => 'never')
  const seen: HandshakeRejectedMessage[] = []
  const onRejected = (m: unknown): void => { seen.push(m as HandshakeRejectedMessage) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))

  for (const upgrade of ['1', '1', '0']) {
    const res = await app.inject({ url: '/lost', headers: { 'x-upgrade': upgrade } })
    t.same([res.statusCode, res.json().code], [503, 'WSG_UNAVAILABLE'])
  }
  t.match(seen, [{ source: '@wsguard/example', code: 'WSG_UNAVAILABLE', detail: 'route-not-governed', route: '/lost' }, { route: '/lost' }], 'the upgrades published, the plain request not')
  t.equal(seen.length, 2)
  const logged = lines.filter((l) => l.includes('lost its rules'))
  t.equal(logged.length, 1, 'once per route')
  t.match(JSON.parse(logged[0] as string), { level: 50, route: '/lost', msg: '@wsguard/example: route /lost lost its rules from its config (an onRoute hook added after the plugin replaced config without its symbol keys); its handshakes are refused. Keep config\'s symbol keys (spread it) in that hook.' })
})
