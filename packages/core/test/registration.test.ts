import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { assertRegisteredOnce, requirePrincipal, type Principal } from '../src/index.js'

// A plugin shaped as the wsguard plugins are: fastify-plugin, one instance decorator.
const plugin = fp(async (fastify: FastifyInstance) => {
  assertRegisteredOnce(fastify, '@wsguard/example', 'wsguardExample')
  fastify.decorate('wsguardExample', {})
}, { name: '@wsguard/example' })

t.test('assertRegisteredOnce: a second registration in the same context says which plugin and why', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(plugin)
  await t.rejects(async () => { await app.register(plugin) }, {
    code: 'WSG_REGISTERED_TWICE',
    statusCode: 500,
    message: 'Registered twice: @wsguard/example is registered in the same encapsulation context. Register it once ' +
      '(per-route settings go in the route\'s config), or register each one in its own sibling context'
  })
})

t.test('assertRegisteredOnce: a parent context\'s registration already governs a child\'s routes', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(plugin)
  await t.rejects(async () => { await app.register(async (child) => { await child.register(plugin) }) }, {
    code: 'WSG_REGISTERED_TWICE',
    message: /@wsguard\/example is registered in this context and in a parent context, whose registration already governs this context's routes/
  })
})

t.test('assertRegisteredOnce: sibling contexts each have their own registration', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const seen: boolean[] = []
  for (let i = 0; i < 2; i++) {
    await app.register(async (child) => {
      await child.register(plugin)
      seen.push(child.hasDecorator('wsguardExample'))
    })
  }
  await app.ready()
  t.same(seen, [true, true])
  t.equal(app.hasDecorator('wsguardExample'), false, 'the root has none')
})

const principal: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'jwt', scopes: [], claims: {}, sessionId: 's' })

t.test('requirePrincipal returns the principal typed non-null, and throws naming the route where there is none', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorateRequest('principal', null)
  app.get('/governed', { onRequest: async (request) => { request.principal = principal } }, async (request) => requirePrincipal(request).id)
  app.get('/open', async (request) => requirePrincipal(request).id)
  // A 404 has no route pattern; the URL (which may hold a token in its query) is never quoted.
  app.setNotFoundHandler(async (request) => requirePrincipal(request).id)
  t.equal((await app.inject('/governed')).body, 'alice')
  const open = await app.inject('/open?access_token=secret')
  t.equal(open.statusCode, 500)
  t.match(open.json().message, /^request\.principal is null on GET \/open: the route is not authenticated by @wsguard\/auth-handshake \(config\.auth: false/)
  t.notMatch(open.body, /secret/)
  const lost = await app.inject('/nowhere?access_token=secret')
  t.match(lost.json().message, /^request\.principal is null on GET \(no route\)/)
  t.notMatch(lost.body, /secret/)
})

t.test('requirePrincipal treats undefined (a context created before the decorator) as null', async (t) => {
  const request = { principal: undefined, method: 'GET', routeOptions: { url: '/x' } }
  t.throws(() => requirePrincipal(request as never), TypeError)
})
