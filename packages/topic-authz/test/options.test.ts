import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { topicAuthz, type TopicAuthzOptions } from '../src/index.js'

async function register (opts: unknown): Promise<void> {
  const app = Fastify()
  try {
    await app.register(websocket)
    await app.register(topicAuthz, opts as TopicAuthzOptions)
    await app.ready()
  } finally {
    await app.close()
  }
}

const bad: Array<[string, unknown, RegExp]> = [
  ['options not an object', 'x', /^Invalid option: opts must be an object$/],
  ['unknown option', { polices: [] }, /opts\.polices is not an option of @wsguard\/topic-authz/],
  ['policies not an array', { policies: {} }, /opts\.policies must be an array of topic rules/],
  ['rule not an object', { policies: [null] }, /opts\.policies\[0\] must be an object/],
  ['unknown rule key', { policies: [{ pattern: 'a', actions: ['subscribe'], scope: ['x'] }] }, /opts\.policies\[0\]\.scope is not a rule option/],
  ['bad pattern', { policies: [{ pattern: 'a.>.b', actions: ['subscribe'] }] }, /opts\.policies\[0\]\.pattern uses '>' before its last segment/],
  ['pattern too long', { maxSegments: 2, policies: [{ pattern: 'a.b.c', actions: ['subscribe'] }] }, /opts\.policies\[0\]\.pattern has more than 2 segments/],
  ['no actions', { policies: [{ pattern: 'a', actions: [] }] }, /opts\.policies\[0\]\.actions must be a non-empty array of actions/],
  ['unknown action', { policies: [{ pattern: 'a', actions: ['subscribe', 'delete'] }] }, /opts\.policies\[0\]\.actions has unknown action 'delete' \(known: subscribe, publish\)/],
  ['bad scope', { policies: [{ pattern: 'a', actions: ['subscribe'], scopes: ['has space'] }] }, /opts\.policies\[0\]\.scopes must be a non-empty array of scope tokens/],
  ['where names no capture', { policies: [{ pattern: 'orders.{tenant}', actions: ['subscribe'], where: { tenat: 'claims.tenant' } }] }, /opts\.policies\[0\]\.where\.tenat names no capture of pattern 'orders\.\{tenant\}'/],
  ['where path names nothing', { policies: [{ pattern: 'o.{t}', actions: ['subscribe'], where: { t: 'claim.tenant' } }] }, /opts\.policies\[0\]\.where\.t must be a principal path/],
  ['where empty', { policies: [{ pattern: 'o.{t}', actions: ['subscribe'], where: {} }] }, /opts\.policies\[0\]\.where must be a non-empty object/],
  ['where wrong type', { policies: [{ pattern: 'o.{t}', actions: ['subscribe'], where: 'claims.t' }] }, /opts\.policies\[0\]\.where must be a non-empty object/],
  ['maxAuthAgeMs negative', { policies: [{ pattern: 'a', actions: ['subscribe'], maxAuthAgeMs: -1 }] }, /opts\.policies\[0\]\.maxAuthAgeMs must be a non-negative integer/],
  ['maxAuthAgeMs fractional', { policies: [{ pattern: 'a', actions: ['subscribe'], maxAuthAgeMs: 1.5 }] }, /maxAuthAgeMs must be a non-negative integer/],
  ['acr empty', { policies: [{ pattern: 'a', actions: ['subscribe'], acr: [] }] }, /opts\.policies\[0\]\.acr must be a non-empty array of non-empty strings/],
  ['acr empty string', { policies: [{ pattern: 'a', actions: ['subscribe'], acr: [''] }] }, /acr must be a non-empty array/],
  ['actions empty', { actions: [] }, /opts\.actions must be a non-empty array of action names/],
  ['action name', { actions: ['sub scribe'] }, /opts\.actions must be a non-empty array of action names/],
  ['mode', { mode: 'audit' }, /opts\.mode must be 'enforce' or 'shadow'/],
  ['clock', { clock: Date }, /opts\.clock must have a now\(\) method/],
  ['decisionCacheSize', { decisionCacheSize: -1 }, /opts\.decisionCacheSize must be an integer ≥ 0/],
  ['maxTopicLength', { maxTopicLength: 0 }, /opts\.maxTopicLength must be an integer ≥ 1/],
  ['maxSegments', { maxSegments: 2.5 }, /opts\.maxSegments must be an integer ≥ 1/]
]

t.test('bad options fail registration with a message naming the option', async (t) => {
  for (const [name, opts, message] of bad) {
    await t.rejects(register(opts), { code: 'WSG_INVALID_OPTION', message }, name)
  }
})

t.test('options are copied, not mutated', async (t) => {
  const opts = { policies: [{ pattern: 'a.{x}', actions: ['subscribe'], where: { x: 'id' } }], actions: ['subscribe', 'publish'] }
  const before = JSON.stringify(opts)
  await register(opts)
  t.equal(JSON.stringify(opts), before)
})

t.test('the plugin needs @fastify/websocket', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(topicAuthz, {}) }, { message: /@fastify\/websocket/ })
})

async function routeError (config: Record<string, unknown>, url = '/ws/orders/:tenant'): Promise<unknown> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, {})
  try {
    app.get(url, { websocket: true, config }, () => {})
  } catch (err) {
    return err
  }
  return undefined
}

t.test('bad route config fails when the route is added, naming the route and the rule', async (t) => {
  t.match(await routeError({ topics: 'x' }), { code: 'WSG_INVALID_OPTION', message: /route GET \/ws\/orders\/:tenant: config\.topics must be an array of topic rules/ })
  t.match(await routeError({ topics: [{ pattern: 'ok', actions: ['subscribe'] }, { pattern: 'o.{t}', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }] }),
    { message: /route GET \/ws\/orders\/:tenant: config\.topics\[1\]\.where\.tenant names no capture of pattern 'o\.\{t\}'/ })
  t.match(await routeError({ handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenantId}' } }),
    { message: /config\.handshakeTopic\.topic names 'params\.tenantId', which is not a parameter of the route/ })
  t.match(await routeError({ handshakeTopic: { action: 'watch', topic: 'orders' } }), { message: /config\.handshakeTopic\.action must be one of the plugin's actions \(subscribe, publish\)/ })
  t.match(await routeError({ handshakeTopic: { action: 'subscribe', topic: '' } }), { message: /config\.handshakeTopic\.topic must be a non-empty string/ })
  t.match(await routeError({ handshakeTopic: { action: 'subscribe', topic: 'a.*' } }), { message: /config\.handshakeTopic\.topic has an invalid segment '\*'/ })
  t.match(await routeError({ handshakeTopic: { action: 'subscribe', topic: 'a.{scopes}' } }), { message: /placeholder '\{scopes\}' must be params\.<name> or a principal path/ })
  t.match(await routeError({ handshakeTopic: { action: 'subscribe', topic: Array(17).fill('a').join('.') } }), { message: /has more than 16 segments/ })
  t.match(await routeError({ handshakeTopic: { action: 'subscribe', topic: 'a', extra: 1 } }), { message: /config\.handshakeTopic\.extra is not an option/ })
  t.match(await routeError({ handshakeTopic: 'orders' }), { message: /config\.handshakeTopic must be an object \{ action, topic \}/ })
  t.match(await routeError({ handshakeTopic: [] }), { message: /config\.handshakeTopic must not be an empty array/ })
  t.match(await routeError({ handshakeTopic: [{ action: 'subscribe', topic: 'a' }, { action: 'subscribe', topic: 'b.{params.x}' }] }),
    { message: /config\.handshakeTopic\[1\]\.topic names 'params\.x'/ })
  t.equal(await routeError({ handshakeTopic: { action: 'subscribe', topic: 'a.{params.room}' } }, '/ws/:tenant-:room(^\\d+)'), undefined, 'params of a multi-parameter segment')
  t.equal(await routeError({ topics: [{ pattern: 'a', actions: ['subscribe'] }] }), undefined)
})

t.test('plain HTTP routes are left alone', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, {})
  t.doesNotThrow(() => app.get('/http', { config: { topics: 'not read' as never } }, async () => 'ok'))
  t.throws(() => app.topicAuthz.authorize(null, 'subscribe', 'a', '/http'), { name: 'TypeError' }, 'and get no policy')
})
