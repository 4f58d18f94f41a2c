import t from 'tap'
import { ChannelName, type HandshakeRejectedMessage, type Revocation, type SessionClosedMessage, type SessionRevokedMessage } from '@wsguard/core'
import { until } from '@wsguard/testing'
import { harness, open, connect, listen, T0 } from './helpers.js'

t.test('revoke by subject closes 4403 at once and refuses older tokens at the next handshake', async (t) => {
  const revokedMsgs = listen<SessionRevokedMessage>(t, ChannelName.sessionRevoked)
  const rejections = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const { app, clock, base, token } = await harness(t)
  const old = token('alice', 3600)
  const a1 = await open(t, `${base}/feed`, old)
  const a2 = await open(t, `${base}/feed`, token('alice', 3600))
  const b = await open(t, `${base}/feed`, token('bob', 3600))
  t.same(await app.wsSessions.revoke({ subject: 'alice' }), { closed: 2 })
  t.same(await a1.closed, { code: 4403, reason: 'access revoked' })
  t.same(await a2.closed, { code: 4403, reason: 'access revoked' })
  t.equal(await b.ask('still here'), 'echo:still here', 'another subject is untouched')
  t.same(revokedMsgs.seen.map((m) => [m.principal?.id, m.by]), [['alice', 'subject'], ['alice', 'subject']])

  const again = await connect(t, `${base}/feed`, old)
  t.equal('refused' in again && again.status, 401)
  t.same('refused' in again && again.body, { statusCode: 401, code: 'WSG_TOKEN_REVOKED', error: 'Unauthorized', message: 'The token has been revoked' })
  t.equal('refused' in again && again.headers['www-authenticate'], 'Bearer realm="wsguard", error="invalid_token", error_description="The token has been revoked"')
  t.match(rejections.seen.at(-1), { source: '@wsguard/session-expiry', code: 'WSG_TOKEN_REVOKED', statusCode: 401, detail: 'revoked', route: '/feed', principal: { id: 'alice' } })

  const sameSecond = await connect(t, `${base}/feed`, token('alice', 3600))
  t.equal('refused' in sameSecond && sameSecond.status, 401, 'a token issued in the second of the revocation is refused too')
  clock.advance(1_000)
  t.equal('refused' in (await connect(t, `${base}/feed`, token('alice', 3600))), false, 'a token issued after the revocation opens')
})

t.test('revoke by token id: only that token, until it would have expired', async (t) => {
  const { app, clock, base, token } = await harness(t)
  const marked = token('alice', 120, { jti: 'jti-1' })
  const c = await open(t, `${base}/feed`, marked)
  const other = await open(t, `${base}/feed`, token('alice', 120, { jti: 'jti-2' }))
  t.same(await app.wsSessions.revoke({ tokenId: 'jti-1' }), { closed: 1 })
  t.same(await c.closed, { code: 4403, reason: 'access revoked' })
  t.equal(await other.ask('x'), 'echo:x')
  t.equal('refused' in (await connect(t, `${base}/feed`, marked)), true)
  clock.advance(1_000)
  t.equal('refused' in (await connect(t, `${base}/feed`, token('alice', 120, { jti: 'jti-3' }))), false, 'the subject is not revoked')
})

t.test('revoke by session id (the connection, or the token sid) and by issuer', async (t) => {
  const revokedMsgs = listen<SessionRevokedMessage>(t, ChannelName.sessionRevoked)
  const { app, clock, base, token } = await harness(t)
  const a = await open(t, `${base}/feed`, token('alice', 3600))
  const [info] = await app.wsSessions.list({ subject: 'alice' })
  t.same(await app.wsSessions.revoke({ sessionId: info?.id as string }), { closed: 1 })
  t.same(await a.closed, { code: 4403, reason: 'access revoked' })

  const sid1 = await open(t, `${base}/feed`, token('carol', 3600, { sid: 'idp-session-9' }))
  const sid2 = await open(t, `${base}/feed`, token('carol', 3600, { sid: 'idp-session-9' }))
  t.same(await app.wsSessions.revoke({ sessionId: 'idp-session-9' }), { closed: 2 }, 'back-channel logout: every socket of the IdP session')
  t.same((await sid1.closed).code, 4403)
  t.same((await sid2.closed).code, 4403)
  t.equal('refused' in (await connect(t, `${base}/feed`, token('carol', 3600, { sid: 'idp-session-9' }))), true)
  const sid3 = await open(t, `${base}/feed`, token('carol', 3600, { sid: 'idp-session-3' }))
  t.same(await app.wsSessions.revoke({ sessionId: 'idp-session-3', issuer: 'https://other.test' }), { closed: 0 }, 'the same sid at another issuer')
  t.same(await app.wsSessions.revoke({ sessionId: 'idp-session-3', issuer: 'https://idp.test' }), { closed: 1 }, 'that issuer\'s session')
  t.same((await sid3.closed).code, 4403)

  clock.advance(1_000)
  const d = await open(t, `${base}/feed`, token('dave', 3600))
  t.same(await app.wsSessions.revoke({ issuer: 'https://idp.test' }), { closed: 1 })
  t.same((await d.closed).code, 4403)
  t.equal('refused' in (await connect(t, `${base}/feed`, token('erin', 3600))), true, 'every older token of the issuer')
  t.same(revokedMsgs.seen.map((m) => m.by), ['sessionId', 'sessionId', 'sessionId', 'sessionId', 'issuer'])
  t.same(await app.wsSessions.revoke({ subject: 'nobody', issuer: 'https://idp.test' }), { closed: 0 })
})

t.test('list: who is connected, since when, until when', async (t) => {
  const { app, clock, base, token } = await harness(t, { session: { graceMs: 2_000 } })
  await open(t, `${base}/feed`, token('alice', 600, { jti: 'a1' }))
  clock.advance(1_000)
  await open(t, `${base}/feed`, token('bob', 300))
  const all = await app.wsSessions.list()
  t.equal(all.length, 2)
  const [alice] = await app.wsSessions.list({ tokenId: 'a1' })
  t.match(alice, { route: '/feed', remoteAddress: '127.0.0.1', openedAt: T0, expiresAt: T0 + 600_000, deadline: T0 + 602_000, principal: { id: 'alice' } })
  t.equal(typeof alice?.instance, 'string')
  t.same((await app.wsSessions.list({ issuer: 'https://idp.test' })).length, 2)
  t.same(await app.wsSessions.list({ subject: 'carol' }), [])
  await t.rejects(app.wsSessions.list({ subject: '' }), { name: 'TypeError', message: /wsSessions\.list: the filter must be one of/ })
  await t.rejects(app.wsSessions.revoke({ subject: 'a', tokenId: 'b' } as never), { name: 'TypeError', message: /wsSessions\.revoke: the filter must be one of/ })
  await t.rejects(app.wsSessions.revoke({ sessionId: 's', issuer: '' }), { name: 'TypeError', message: /\{ sessionId\[, issuer\] \}/ })
  await t.rejects(app.wsSessions.revoke(null as never), { name: 'TypeError', message: /must be an object/ })
})

t.test('a revocation from another instance (through the store) closes local sessions', async (t) => {
  const { MemoryRevocationStore } = await import('../src/index.js')
  const shared = new MemoryRevocationStore()
  const one = await harness(t, { session: { revocations: shared } })
  const two = await harness(t, { session: { revocations: shared } })
  const c = await open(t, `${two.base}/feed`, two.token('alice', 3600))
  t.same(await one.app.wsSessions.revoke({ subject: 'alice' }), { closed: 0 }, 'none on this instance')
  t.same(await c.closed, { code: 4403, reason: 'access revoked' }, 'closed by the other instance on delivery')
})

t.test("the route's own preValidation hooks still run; the rejection carries the Origin", async (t) => {
  const rejections = listen<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const ran: string[] = []
  const { app, base, token } = await harness(t, {
    routes: (app) => {
      app.get('/one', { websocket: true, preValidation: (_q, _r, done) => { ran.push('one'); done() } }, () => {})
      app.get('/many', { websocket: true, preValidation: [(_q, _r, done) => { ran.push('many'); done() }] }, () => {})
    }
  })
  const old = token('alice', 3600)
  await app.wsSessions.revoke({ subject: 'alice' })
  for (const path of ['/one', '/many']) {
    const r = await connect(t, `${base}${path}`, old, { origin: 'https://app.test' })
    t.equal('refused' in r && r.status, 401, path)
  }
  t.same(ran, ['one', 'many'])
  t.equal(rejections.seen.at(-1)?.origin, 'https://app.test')
})

t.test('a revocation that lands between the handshake check and the upgrade still closes the socket', async (t) => {
  const { ChannelName: Names } = await import('@wsguard/core')
  const revokedMsgs = listen<SessionRevokedMessage>(t, Names.sessionRevoked)
  const { base, token, app, clock } = await harness(t, {
    routes: (app) => {
      // preHandler runs after session-expiry's preValidation check and before the upgrade.
      app.get('/racy', {
        websocket: true,
        preHandler: async (req) => { if (req.headers['x-revoke'] === 'yes') await app.wsSessions.revoke({ subject: 'alice' }) }
      }, (socket) => { socket.on('message', (d) => socket.send(`echo:${String(d)}`)) })
    }
  })
  const raced = await connect(t, `${base}/racy`, token('alice', 3600), { headers: { 'x-revoke': 'yes' } })
  if ('refused' in raced) throw new Error('the check had passed: it opens, then closes')
  t.same(await raced.closed, { code: 4403, reason: 'access revoked' })
  t.match(revokedMsgs.seen, [{ principal: { id: 'alice' }, by: 'subject', revocation: { instance: /^[0-9a-f-]{36}$/ } }])
  t.equal(revokedMsgs.seen.length, 1, 'closed once')
  const bob = await open(t, `${base}/racy`, token('bob', 3600))
  t.equal(await bob.ask('x'), 'echo:x', 'an earlier revocation of someone else does not touch a new session')
  t.equal(app.wsSessions.size, 1)
  clock.advance(61_000) // the remembered revocation ages out of the in-flight window
  t.same(await app.wsSessions.revoke({ subject: 'carol' }), { closed: 0 })
  t.equal(await bob.ask('y'), 'echo:y')
})

t.test('a revocation says where it came from: on the revoked and closed messages, here and on the other instance', async (t) => {
  const { MemoryRevocationStore } = await import('../src/index.js')
  const revokedMsgs = listen<SessionRevokedMessage>(t, ChannelName.sessionRevoked)
  const closedMsgs = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const shared = new MemoryRevocationStore()
  const stored: Revocation[] = []
  shared.subscribe((r) => stored.push(r))
  const one = await harness(t, { session: { revocations: shared } })
  const two = await harness(t, { session: { revocations: shared } })
  const here = await open(t, `${one.base}/feed`, one.token('alice', 3600))
  const there = await open(t, `${two.base}/feed`, two.token('alice', 3600))
  await one.app.wsSessions.revoke({ subject: 'alice' }, { actor: 'admin:42', reason: 'account locked' })
  await Promise.all([here.closed, there.closed])
  await until(() => closedMsgs.seen.length === 2, 'both closes published')
  const instance = stored[0]?.origin?.instance as string
  t.match(instance, /^[0-9a-f-]{36}$/, "without a store name, the issuing plugin's own id")
  t.strictSame(stored[0]?.origin, { instance, actor: 'admin:42', reason: 'account locked' })
  const origin = { instance, actor: 'admin:42', reason: 'account locked' }
  t.equal(revokedMsgs.seen.length, 2)
  for (const m of revokedMsgs.seen) t.strictSame(m.revocation, origin)
  t.equal(closedMsgs.seen.length, 2)
  for (const m of closedMsgs.seen) t.match(m, { closeCode: 4403, revocation: origin })
})

t.test("a store's name becomes the origin's instance; what a store delivers is bounded before it is published", async (t) => {
  const { MemoryRevocationStore } = await import('../src/index.js')
  const revokedMsgs = listen<SessionRevokedMessage>(t, ChannelName.sessionRevoked)
  const closedMsgs = listen<SessionClosedMessage>(t, ChannelName.sessionClosed)
  const store = Object.assign(new MemoryRevocationStore(), { instance: 'api-1' })
  const { app, base, token, clock } = await harness(t, { session: { revocations: store } })
  const a = await open(t, `${base}/feed`, token('alice', 3600))
  await app.wsSessions.revoke({ subject: 'alice' })
  await a.closed
  t.strictSame(revokedMsgs.seen[0]?.revocation, { instance: 'api-1' })
  const b = await open(t, `${base}/feed`, token('bob', 3600))
  // Another instance wrote this one: an over-long field is cut, an unknown one dropped.
  await store.revoke({ filter: { subject: 'bob' }, at: clock.now(), until: clock.now() + 60_000, origin: { instance: 'x'.repeat(300), by: 'me' } as never })
  await b.closed
  t.strictSame(revokedMsgs.seen[1]?.revocation, { instance: `${'x'.repeat(128)}…` })
  const c = await open(t, `${base}/feed`, token('carol', 3600))
  await store.revoke({ filter: { subject: 'carol' }, at: clock.now(), until: clock.now() + 60_000 })
  await c.closed
  await closedMsgs.wait((m) => m.principal?.id === 'carol')
  t.notOk('revocation' in (revokedMsgs.seen[2] as object), 'a revocation without an origin publishes none')
  t.notOk('revocation' in (closedMsgs.seen.find((m) => m.principal?.id === 'carol') as object))
  store.instance = 'n'.repeat(300)
  const d = await open(t, `${base}/feed`, token('dave', 3600))
  await app.wsSessions.revoke({ subject: 'dave' })
  await d.closed
  t.strictSame(revokedMsgs.seen.at(-1)?.revocation, { instance: `${'n'.repeat(128)}…` }, 'a store\'s over-long name is cut too')
})

t.test('revoke options are checked: a bad one throws a TypeError and revokes nothing', async (t) => {
  const { app, base, token } = await harness(t)
  const a = await open(t, `${base}/feed`, token('alice', 3600))
  for (const [options, message] of [
    [null, /the options must be an object/],
    [['x'], /the options must be an object/],
    [{ by: 'me' }, /by is not an option \(actor, reason\)/],
    [{ reason: '' }, /reason must be a string of 1–128 characters/],
    [{ actor: 'a'.repeat(129) }, /actor must be a string of 1–128 characters/],
    [{ actor: 7 }, /actor must be a string/]
  ] as const) {
    await t.rejects(app.wsSessions.revoke({ subject: 'alice' }, options as never), { name: 'TypeError', message })
  }
  t.equal(await a.ask('still'), 'echo:still')
  t.equal(app.wsSessions.size, 1)
})
