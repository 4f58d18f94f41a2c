import t from 'tap'
import Fastify from 'fastify'
import { requestMark } from '../src/index.js'

t.test('requestMark: only the requests it set read marked, and a context made before the decorator reads unmarked', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const seen: Record<string, unknown> = {}
  // A child context created before the mark's decorator: its requests lack the property.
  await app.register(async (early) => {
    early.get('/early', async (request) => {
      seen.earlyBefore = mark.has(request)
      mark.set(request)
      seen.earlyAfter = mark.has(request)
      return 'ok'
    })
  })
  const mark = requestMark(app, 'test.mark')
  // Another mark with the same description is another mark.
  const other = requestMark(app, 'test.mark')
  app.get('/late', async (request) => {
    seen.lateBefore = mark.has(request)
    mark.set(request)
    seen.lateAfter = mark.has(request)
    seen.other = other.has(request)
    // A property of the same description under another symbol, or by string, is not the mark.
    ;(request as unknown as Record<string, unknown>)['test.mark'] = true
    seen.string = other.has(request)
    return 'ok'
  })
  await app.inject('/early')
  await app.inject('/late')
  t.same(seen, { earlyBefore: false, earlyAfter: true, lateBefore: false, lateAfter: true, other: false, string: false })
})

t.test('requestMark: every request starts with the property, unmarked', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const mark = requestMark(app, 'test.decorated')
  let own: string[] = []
  app.get('/', async (request) => {
    own = Object.getOwnPropertySymbols(request).map((s) => s.description ?? '')
    return mark.has(request)
  })
  t.equal((await app.inject('/')).body, 'false')
  t.ok(own.includes('test.decorated'), 'every request starts with the property, so requests keep one shape')
})
