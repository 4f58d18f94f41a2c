import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { sessionExpiry, type SessionExpiryOptions } from '../src/index.js'
import { validateOptions } from '../src/options.js'

const bad: Array<[string, unknown, RegExp]> = [
  ['not an object', 7, /opts must be an object/],
  ['unknown option', { graceMS: 1 }, /opts\.graceMS is not an option of @wsguard\/session-expiry/],
  ['negative noticeMs', { noticeMs: -1 }, /opts\.noticeMs must be an integer ≥ 0 \(ms\)/],
  ['fractional graceMs', { graceMs: 1.5 }, /opts\.graceMs must be an integer ≥ 0/],
  ['maxLifetimeMs as text', { maxLifetimeMs: '8h' }, /opts\.maxLifetimeMs must be an integer/],
  ['idleTimeoutMs', { idleTimeoutMs: -5 }, /opts\.idleTimeoutMs must be an integer/],
  ['heartbeatMs', { heartbeatMs: Number.NaN }, /opts\.heartbeatMs must be an integer/],
  ['refresh', { refresh: 'yes' }, /opts\.refresh must be a boolean/],
  ['refreshLimit shape', { refreshLimit: { max: 1, every: 2 } }, /opts\.refreshLimit must be \{ max, windowMs \}/],
  ['refreshLimit not an object', { refreshLimit: 5 }, /opts\.refreshLimit must be \{ max, windowMs \}/],
  ['refreshLimit.max', { refreshLimit: { max: 0, windowMs: 1 } }, /opts\.refreshLimit\.max must be an integer ≥ 1/],
  ['authenticate', { authenticate: 'auth' }, /opts\.authenticate must be a function/],
  ['messages', { messages: 'x' }, /opts\.messages must be an object/],
  ['unknown message', { messages: { logout: 'x' } }, /opts\.messages\.logout is not a control message/],
  ['message name', { messages: { refresh: 'has space' } }, /opts\.messages\.refresh must be a name/],
  ['duplicate names', { messages: { refresh: 'auth.refreshed' } }, /opts\.messages must name every control message differently/],
  ['maxControlFrameBytes', { maxControlFrameBytes: 10 }, /opts\.maxControlFrameBytes must be an integer ≥ 64/],
  ['registry', { registry: {} }, /opts\.registry must implement SessionRegistry/],
  ['revocations', { revocations: { revoke () {} } }, /opts\.revocations must implement RevocationStore/],
  ['revocationRetentionMs', { revocationRetentionMs: 0 }, /opts\.revocationRetentionMs must be an integer ≥ 1/],
  ['closeTimeoutMs', { closeTimeoutMs: -1 }, /opts\.closeTimeoutMs must be an integer ≥ 0/],
  ['revocationTimeoutMs', { revocationTimeoutMs: 0 }, /opts\.revocationTimeoutMs must be an integer ≥ 1/],
  ['refreshTimeoutMs', { refreshTimeoutMs: 0 }, /opts\.refreshTimeoutMs must be an integer ≥ 1/],
  ['refreshTimeoutMs past what a timer waits', { refreshTimeoutMs: 2 ** 31 }, /opts\.refreshTimeoutMs must be at most 2147483647 ms/],
  ['revocationTimeoutMs past what a timer waits (it would fire after 1 ms: every check 503)', { revocationTimeoutMs: 30 * 86_400_000 }, /opts\.revocationTimeoutMs must be at most 2147483647 ms \(about 24\.8 days, the longest a Node timer waits\)/],
  ['closeTimeoutMs past what a timer waits', { closeTimeoutMs: 2 ** 31 }, /opts\.closeTimeoutMs must be at most 2147483647 ms/],
  ['maxSessionsPerPrincipal', { maxSessionsPerPrincipal: -1 }, /opts\.maxSessionsPerPrincipal must be an integer ≥ 0 \(0 for no cap\)/],
  ['maxSessionsPerPrincipal as text', { maxSessionsPerPrincipal: '5' }, /opts\.maxSessionsPerPrincipal must be an integer/],
  ['maxSessionsRetryAfterMs', { maxSessionsRetryAfterMs: 999 }, /opts\.maxSessionsRetryAfterMs must be an integer ≥ 1000/],
  ['realm', { realm: 'a"b' }, /opts\.realm must be printable ASCII/],
  ['clock', { clock: { now: () => 1 } }, /opts\.clock must implement TimerClock/],
  ['closedSubprotocols', { closedSubprotocols: 'graphql-ws' }, /opts\.closedSubprotocols must be an array of subprotocol names/],
  ['closedSubprotocols entry', { closedSubprotocols: ['has space'] }, /opts\.closedSubprotocols must be an array of subprotocol names/],
  ['minRemainingMs', { minRemainingMs: -1 }, /opts\.minRemainingMs must be an integer ≥ 0/],
  ['shutdown', { shutdown: 'never' }, /opts\.shutdown must be 'first' or 'after-preclose'/]
]

t.test('bad options fail registration with a message naming the option', async (t) => {
  for (const [name, opts, message] of bad) {
    const app = Fastify()
    await app.register(websocket)
    await t.rejects(async () => { await app.register(sessionExpiry, opts as SessionExpiryOptions) }, { code: 'WSG_INVALID_OPTION', message }, name)
    await app.close()
  }
})

t.test('defaults, and options are copied', async (t) => {
  const messages = { refresh: 'reauth' }
  const c = validateOptions({ messages })
  t.match(c, { noticeMs: 60_000, graceMs: 5_000, maxLifetimeMs: 28_800_000, idleTimeoutMs: 300_000, heartbeatMs: 30_000, refresh: true, refreshLimit: { max: 5, windowMs: 60_000 }, maxControlFrameBytes: 16_384, revocationRetentionMs: 86_400_000, revocationTimeoutMs: 2_000, refreshTimeoutMs: 10_000, maxSessionsPerPrincipal: 0, maxSessionsRetryAfterMs: 30_000, closeTimeoutMs: 5_000, realm: 'wsguard', minRemainingMs: 1_000, shutdown: 'first' })
  t.same([...c.closedSubprotocols], ['graphql-transport-ws', 'graphql-ws'])
  const list = ['acme.v1']
  t.same([...validateOptions({ closedSubprotocols: list }).closedSubprotocols], ['graphql-transport-ws', 'graphql-ws', 'acme.v1'], 'added to the built-in ones')
  t.same(list, ['acme.v1'], 'not mutated')
  t.same(c.messages, { expiring: 'auth.expiring', refresh: 'reauth', refreshed: 'auth.refreshed', refreshFailed: 'auth.refresh_failed', topicRevoked: 'topic.revoked' })
  t.same(messages, { refresh: 'reauth' }, 'not mutated')
  t.ok(Object.isFrozen(c))
})

t.test('config.session is false or absent', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(sessionExpiry, { refresh: false })
  t.throws(() => app.get('/ws', { websocket: true, config: { session: true as never } }, () => {}), { code: 'WSG_INVALID_OPTION', message: /route GET \/ws: config\.session must be false or absent/ })
  t.doesNotThrow(() => app.get('/http', { config: { session: 'ignored' as never } }, async () => 'plain HTTP routes are not read'))
})
