import t from 'tap'
import Fastify from 'fastify'
import { governsHttp, linkRequest, principalOf, requestOf, sessionOf, type Principal } from '../src/index.js'

const alice: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's1' })
const bob: Principal = Object.freeze({ ...alice, id: 'bob' })

t.test('principalOf / requestOf / sessionOf: from the raw request of a linked (admitted) request, read live', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorateRequest('principal', null as unknown as Principal)
  app.decorateRequest('wsSession', null as never)
  const seen: unknown[] = []
  app.get('/linked', async (request) => {
    request.principal = alice
    linkRequest(request)
    seen.push(requestOf(request.raw) === request, principalOf(request.raw)?.id, sessionOf(request.raw))
    // An in-band refresh replaces the principal: principalOf reads the current one.
    request.principal = bob
    ;(request as unknown as { wsSession: unknown }).wsSession = { id: 'session-1' }
    seen.push(principalOf(request.raw)?.id, sessionOf(request.raw))
    return 'ok'
  })
  app.get('/unlinked', async (request) => {
    request.principal = alice
    seen.push(requestOf(request.raw), principalOf(request.raw), sessionOf(request.raw))
    return 'ok'
  })
  app.get('/no-principal', async (request) => {
    linkRequest(request)
    seen.push(principalOf(request.raw))
    return 'ok'
  })
  await app.inject('/linked')
  await app.inject('/unlinked')
  await app.inject('/no-principal')
  t.same(seen, [true, 'alice', null, 'bob', { id: 'session-1' }, undefined, null, null, null])
})

t.test('principalOf: two copies of core share one map (a global symbol)', async (t) => {
  const map = (globalThis as Record<symbol, unknown>)[Symbol.for('@wsguard/core.requestsByRaw')]
  t.type(map, WeakMap)
})

t.test('governsHttp: true, false or absent; anything else fails registration naming the route', async (t) => {
  t.equal(governsHttp({ method: 'GET', url: '/a' }), false)
  t.equal(governsHttp({ method: 'GET', url: '/a', config: {} }), false)
  t.equal(governsHttp({ method: 'GET', url: '/a', config: { governHttp: false } }), false)
  t.equal(governsHttp({ method: 'GET', url: '/a', config: { governHttp: true } }), true)
  t.throws(() => governsHttp({ method: 'GET', url: '/a', config: { governHttp: 'yes' } }), { code: 'WSG_INVALID_OPTION', message: /route GET \/a: config\.governHttp must be a boolean/ })
})
