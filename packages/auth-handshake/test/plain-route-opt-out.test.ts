// Z17: an upgrade to a plain HTTP route is refused 400 before the upgrade whatever the route's
// config. Core's guard read the opt-out before it asked whether the route is a websocket route,
// so a plain route carrying `config.auth: false` (an app's own mark for its public routes) was
// upgraded by @fastify/websocket, which closed it and logged its URL, query token and all,
// under a `path` key no `req` serializer covers.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifySchema, type RouteOptions } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { captureLogs, claimsFor, generateKey, jwks, mintToken, until } from '@wsguard/testing'
import { redactQuery } from '@wsguard/core'
import { authHandshake, redactingReqSerializer, TICKET_QUERY_PARAMETER } from '../src/index.js'
import { rawUpgrade } from './helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const token = mintToken(key, claimsFor(ISS, AUD, 'alice'))
const jwt = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }
const params = ['access_token', TICKET_QUERY_PARAMETER]

/** An app logging at info with the README's req serializer, @fastify/websocket registered. */
async function loggedApp (t: Test): Promise<{ app: FastifyInstance, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream, serializers: { req: redactingReqSerializer(params) } } })
  t.teardown(() => app.close())
  await app.register(websocket)
  return { app, logs }
}

t.test('a plain route with config.auth: false is no websocket route: 400 before the upgrade, nothing logged', async (t) => {
  const { app, logs } = await loggedApp(t)
  await app.register(authHandshake, { jwt, carriers: ['header', 'subprotocol', 'query'] })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('{}') })
  app.get('/status', { config: { auth: false } }, async () => ({ ok: true }))
  // schema.hide keeps a route out of API docs; @fastify/websocket sets it on its own routes too.
  app.get('/internal/status', { schema: { hide: true } as FastifySchema, config: { auth: false } }, async () => ({ ok: true }))
  app.get('/internal/metrics', { schema: { hide: true } as FastifySchema }, async () => 'metrics')
  app.get('/open', { websocket: true, config: { auth: false } }, (socket) => { socket.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port

  const head = await rawUpgrade(port, `/status?access_token=${token}`)
  t.match(head, /^HTTP\/1\.1 400 Bad Request/, 'refused before the upgrade (core\'s WSG_BAD_REQUEST)')
  t.equal((await app.inject('/status')).statusCode, 200, 'the plain route itself still answers')
  t.match(await rawUpgrade(port, `/internal/status?access_token=${token}`), /^HTTP\/1\.1 400 Bad Request/, 'a plain route hidden from the docs: still plain (Z17, second cut)')
  t.match(await rawUpgrade(port, '/internal/metrics'), /^HTTP\/1\.1 400 Bad Request/, 'not taken for a websocket route added before the plugin (503)')
  t.match(await rawUpgrade(port, `/open?access_token=${token}`), /^HTTP\/1\.1 101/, 'a websocket route that opts out still opens')
  await until(() => logs.lines.filter((l) => l.includes('request completed')).length >= 4, 'the requests logged')
  t.notOk(logs.text().includes('was added before the plugin'), 'no route is reported as added too early')
  t.notOk(logs.text().includes('no websocket handler'), '@fastify/websocket never upgraded the plain route')
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})

t.test("the plugin in a prefixed child context: an upgrade to a plain route elsewhere is @fastify/websocket's, and the README's path serializer keeps its token out of the log", async (t) => {
  const logs = captureLogs()
  // The README's app-level logger ("Logs and credentials").
  const app = Fastify({
    logger: {
      level: 'info',
      stream: logs.stream,
      serializers: { req: redactingReqSerializer(params), path: (url: unknown) => (typeof url === 'string' ? redactQuery(url, params) : url) }
    }
  })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(async (ws) => {
    await ws.register(authHandshake, { jwt, carriers: ['header', 'subprotocol', 'query'] })
    ws.get('/feed', { websocket: true }, (socket) => { socket.send('{}') })
  }, { prefix: '/ws' })
  app.get('/', async () => ({ ok: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port

  t.match(await rawUpgrade(port, `/?access_token=${token}`), /^HTTP\/1\.1 101/, 'outside the plugin\'s context: upgraded and closed, as the README says')
  await until(() => logs.text().includes('no websocket handler'), '@fastify/websocket logged it')
  const line = JSON.parse(logs.lines.find((l) => l.includes('no websocket handler')) as string) as { path: string }
  t.equal(line.path, '/?access_token=[REDACTED]')
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})

// Z17, third cut: routes whose mark the guard cannot trust. A later onRoute hook that rebuilds
// config without symbol keys erases the guard's record of a route added after it, and a plain
// route added before it may carry schema.hide (@fastify/websocket writes it into a schema object
// the route shares with a websocket route). Neither is ever let through on its opt-out.
t.test('a later onRoute hook that clones config without symbol keys: a hidden plain route with auth: false is not upgraded', async (t) => {
  const { app, logs } = await loggedApp(t)
  await app.register(authHandshake, { jwt, carriers: ['header', 'subprotocol', 'query'] })
  // e.g. a plugin that keeps a private copy of each route's config (structuredClone drops symbol keys).
  app.addHook('onRoute', (routeOptions: RouteOptions) => {
    routeOptions.config = structuredClone(routeOptions.config ?? {}) as RouteOptions['config']
  })
  app.get('/feed', { websocket: true }, (socket) => { socket.send('{}') })
  app.get('/internal/status', { schema: { hide: true } as FastifySchema, config: { auth: false } }, async () => ({ ok: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port

  t.match(await rawUpgrade(port, `/internal/status?access_token=${token}`), /^HTTP\/1\.1 503/, 'refused: a route without the mark is never let through on its opt-out')
  t.match(await rawUpgrade(port, `/feed?access_token=${token}`), /^HTTP\/1\.1 503/, 'a governed route whose rules the clone took away is refused too (Z33)')
  await until(() => logs.lines.filter((l) => l.includes('request completed')).length >= 1, 'the refusal logged')
  t.notOk(logs.text().includes('no websocket handler'), 'never upgraded')
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})

t.test('an early plain route sharing its schema object with a websocket route gets schema.hide from @fastify/websocket: refused, not upgraded', async (t) => {
  const { app, logs } = await loggedApp(t)
  // One schema object for the room query string, used by a websocket route and a plain route.
  const roomQuery = { querystring: { type: 'object', properties: { room: { type: 'string' } } } }
  app.get('/rooms/live', { websocket: true, schema: roomQuery, config: { auth: false } }, (socket) => { socket.close() })
  app.get('/rooms/info', { schema: roomQuery, config: { auth: false } }, async () => ({ ok: true }))
  await app.register(authHandshake, { jwt, carriers: ['header', 'subprotocol', 'query'] })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port

  t.equal((roomQuery as { hide?: boolean }).hide, true, "@fastify/websocket set hide on the app's shared schema object")
  t.match(await rawUpgrade(port, `/rooms/info?room=a&access_token=${token}`), /^HTTP\/1\.1 503/, 'the plain route: refused before the upgrade')
  t.match(await rawUpgrade(port, `/rooms/live?access_token=${token}`), /^HTTP\/1\.1 503/, 'the early websocket route too: an opt-out holds only after the plugin')
  await until(() => logs.lines.filter((l) => l.includes('request completed')).length >= 2, 'the refusals logged')
  t.notOk(logs.text().includes('no websocket handler'), 'never upgraded')
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})
