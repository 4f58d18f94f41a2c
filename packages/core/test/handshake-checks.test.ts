import t from 'tap'
import Fastify, { type FastifyRequest, type RouteOptions } from 'fastify'
import { addHandshakeCheck, handshakeChecksOf, runHandshakeChecks, type HandshakeCheck, type Principal } from '../src/index.js'

const alice: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's1' })

t.test('checks registered from onRoute reach the request, in order, and the app config is never mutated', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const order: string[] = []
  const first: HandshakeCheck = { source: 'one', check: (_r, p) => { order.push('one'); return p.id === 'alice' ? undefined : 'WSG_TOKEN_INVALID' } }
  const second: HandshakeCheck = { source: 'two', check: async (r) => { order.push('two'); return r.params !== null && (r.params as { t?: string }).t === 'acme' ? undefined : 'WSG_TOPIC_DENIED' } }
  app.addHook('onRoute', (route: RouteOptions) => { if (route.url === '/r/:t') addHandshakeCheck(route, first) })
  app.addHook('onRoute', (route: RouteOptions) => { if (route.url === '/r/:t') addHandshakeCheck(route, second) })
  const appConfig = { mine: 1 }
  let seen: FastifyRequest | undefined
  app.get('/r/:t', { config: appConfig as never }, async (request) => { seen = request; return 'ok' })
  app.get('/none', async (request) => handshakeChecksOf(request).length)
  t.same(Object.keys(appConfig), ['mine'], 'the app config object is untouched')

  await app.inject('/r/acme')
  const request = seen as FastifyRequest
  t.same(handshakeChecksOf(request).map((c) => c.source), ['one', 'two'])
  t.ok(Object.isFrozen(handshakeChecksOf(request)), 'frozen')
  t.equal(await runHandshakeChecks(request, alice), undefined, 'all pass')
  t.same(order, ['one', 'two'])
  t.equal(await runHandshakeChecks(request, { ...alice, id: 'mallory' }), 'WSG_TOKEN_INVALID', 'the first refusal wins')
  t.same(order, ['one', 'two', 'one'], 'and the later checks do not run')
  await app.inject('/r/globex')
  t.equal(await runHandshakeChecks(seen as FastifyRequest, alice), 'WSG_TOPIC_DENIED', 'an asynchronous refusal')
  t.equal((await app.inject('/none')).body, '0', 'a route without checks has none')
})

t.test('a check that throws or rejects makes the run reject (the caller refuses)', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.addHook('onRoute', (route: RouteOptions) => {
    addHandshakeCheck(route, { source: 'boom', check: route.url === '/throws' ? () => { throw new Error('store down') } : async () => { throw new Error('timeout') } })
  })
  const requests: FastifyRequest[] = []
  app.get('/throws', async (request) => { requests.push(request); return 'ok' })
  app.get('/rejects', async (request) => { requests.push(request); return 'ok' })
  await app.inject('/throws')
  await app.inject('/rejects')
  await t.rejects(runHandshakeChecks(requests[0] as FastifyRequest, alice), { message: 'store down' })
  await t.rejects(runHandshakeChecks(requests[1] as FastifyRequest, alice), { message: 'timeout' })
})

t.test('an asynchronous pass goes on to the next check; the checks run in order whatever they answer', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const order: string[] = []
  app.addHook('onRoute', (route: RouteOptions) => {
    addHandshakeCheck(route, { source: 'async', check: async () => { order.push('async'); return undefined } })
    addHandshakeCheck(route, { source: 'sync', check: (_r, p) => { order.push('sync'); return p.id === 'alice' ? undefined : 'WSG_TOKEN_INVALID' } })
  })
  let seen: FastifyRequest | undefined
  app.get('/r', async (request) => { seen = request; return 'ok' })
  await app.inject('/r')
  const request = seen as FastifyRequest
  t.equal(await runHandshakeChecks(request, alice), undefined)
  t.equal(await runHandshakeChecks(request, { ...alice, id: 'mallory' }), 'WSG_TOKEN_INVALID', 'the refusal after an asynchronous pass')
  t.same(order, ['async', 'sync', 'async', 'sync'])
})

t.test('synchronous checks have all run when runHandshakeChecks returns; any thenable is waited for; a throwing then getter rejects', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const order: string[] = []
  const kind = (url: string): HandshakeCheck['check'] => {
    if (url === '/thenable') return () => ({ then (resolve: (c: undefined) => void) { order.push('thenable'); resolve(undefined) } }) as never
    if (url === '/getter') return () => ({ get then (): never { throw new Error('then getter') } }) as never
    return () => { order.push('sync'); return undefined }
  }
  app.addHook('onRoute', (route: RouteOptions) => {
    addHandshakeCheck(route, { source: 'first', check: kind(route.url) })
    addHandshakeCheck(route, { source: 'second', check: () => { order.push('second'); return undefined } })
  })
  const requests = new Map<string, FastifyRequest>()
  for (const url of ['/sync', '/thenable', '/getter']) app.get(url, async (request) => { requests.set(url, request); return 'ok' })
  for (const url of ['/sync', '/thenable', '/getter']) await app.inject(url)
  const pending = runHandshakeChecks(requests.get('/sync') as FastifyRequest, alice)
  t.same(order, ['sync', 'second'], 'both ran before it returned, with no await between them')
  t.equal(await pending, undefined)
  order.length = 0
  t.equal(await runHandshakeChecks(requests.get('/thenable') as FastifyRequest, alice), undefined)
  t.same(order, ['thenable', 'second'], 'a thenable that is not a promise was waited for, then the next check ran')
  order.length = 0
  const getter = runHandshakeChecks(requests.get('/getter') as FastifyRequest, alice)
  t.ok(getter instanceof Promise, 'a promise, not a synchronous throw')
  await t.rejects(getter, { message: 'then getter' })
  t.same(order, [], 'nothing after the failing check ran')
})
