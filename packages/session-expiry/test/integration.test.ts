import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { topicAuthz } from '@wsguard/topic-authz'
import { captureLogs, FakeClock, until } from '@wsguard/testing'
import type { AuthOutcome, Principal, RevocationStore, SessionInfo, SessionRegistry } from '@wsguard/core'
import { DEFAULT_MAX_LIFETIME_MS, MemorySessionRegistry, sessionExpiry, type SessionEvents } from '../src/index.js'
import { bare, harness, open, connect, listen, T0 } from './helpers.js'

t.test('a refresh that narrows the grants revokes the topics no longer allowed', async (t) => {
  const events: Array<SessionEvents['topic-revoked'][0]> = []
  const { base, token } = await harness(t, {
    before: async (app) => {
      await app.register(topicAuthz, { policies: [{ pattern: 'orders.{tenant}.>', actions: ['subscribe'], where: { tenant: 'claims.tenant' } }, { pattern: 'status.>', actions: ['subscribe'] }] })
    },
    routes: (app) => {
      app.get('/orders', { websocket: true }, (socket, req) => {
        req.wsSession.on('topic-revoked', (e) => { events.push(e) })
        socket.on('message', (raw) => {
          const topic = String(raw)
          if (topic.startsWith('drop:')) { req.wsSession.untrackTopic(topic.slice(5)); socket.send(JSON.stringify([...req.wsSession.topics.keys()])); return }
          const d = req.authorizeTopic('subscribe', topic)
          if (d.allow) req.wsSession.trackTopic(topic)
          socket.send(JSON.stringify({ topic, allow: d.allow }))
        })
      })
    }
  })
  const c = await open(t, `${base}/orders`, token('alice', 3600, { tenant: 'acme' }))
  t.same(await c.ask('orders.acme.eu'), { topic: 'orders.acme.eu', allow: true })
  t.same(await c.ask('status.up'), { topic: 'status.up', allow: true })
  t.same(await c.ask('orders.acme.us'), { topic: 'orders.acme.us', allow: true })
  t.same(await c.ask('drop:orders.acme.us'), ['orders.acme.eu', 'status.up'], 'an untracked topic is not re-checked')
  t.same(await c.ask({ type: 'auth.refresh', token: token('alice', 7200, { tenant: 'globex' }) }), { type: 'auth.refreshed', expiresAt: T0 + 7_200_000 })
  t.same(await c.next(), { type: 'topic.revoked', topic: 'orders.acme.eu', action: 'subscribe' })
  t.same(events, [{ topic: 'orders.acme.eu', action: 'subscribe', reason: 'claim-mismatch' }])
  t.same(await c.ask('orders.globex.eu'), { topic: 'orders.globex.eu', allow: true }, 'the new grants apply at once')
})

t.test('a topic held for two actions: a refresh that takes one away revokes that one and keeps the other', async (t) => {
  const events: Array<SessionEvents['topic-revoked'][0]> = []
  const { base, token } = await harness(t, {
    before: async (app) => {
      await app.register(topicAuthz, {
        actions: ['subscribe', 'publish'],
        policies: [
          { pattern: 'orders.>', actions: ['subscribe'], scopes: ['orders:read'] },
          { pattern: 'orders.>', actions: ['publish'], scopes: ['orders:write'] }
        ]
      })
    },
    routes: (app) => {
      app.get('/orders', { websocket: true }, (socket, req) => {
        req.wsSession.on('topic-revoked', (e) => { events.push(e) })
        socket.on('message', (raw) => {
          const [action, topic] = String(raw).split(' ') as [string, string]
          const held = (): string => JSON.stringify([...req.wsSession.topics].map(([k, v]) => [k, [...v]]))
          if (action === 'held' || action === 'drop') {
            const [name, which] = topic.split('/') as [string, string | undefined]
            if (action === 'drop') req.wsSession.untrackTopic(name, which)
            socket.send(held())
            return
          }
          const d = req.authorizeTopic(action, topic)
          if (d.allow) req.wsSession.trackTopic(topic, action)
          socket.send(JSON.stringify({ action, topic, allow: d.allow }))
        })
      })
    }
  })
  const c = await open(t, `${base}/orders`, token('alice', 3600, { scope: 'orders:read orders:write' }))
  for (const action of ['subscribe', 'publish']) {
    for (const topic of ['orders.acme', 'orders.globex']) t.same(await c.ask(`${action} ${topic}`), { action, topic, allow: true })
  }
  t.same(await c.ask('held x'), [['orders.acme', ['subscribe', 'publish']], ['orders.globex', ['subscribe', 'publish']]], 'both actions kept per topic')
  t.same(await c.ask('drop orders.globex/publish'), [['orders.acme', ['subscribe', 'publish']], ['orders.globex', ['subscribe']]], 'one action forgotten')
  t.same(await c.ask('drop orders.globex/subscribe'), [['orders.acme', ['subscribe', 'publish']]], 'its last one: the topic goes')
  t.same(await c.ask('drop orders.nowhere'), [['orders.acme', ['subscribe', 'publish']]], 'a topic not held: nothing')

  // The new token may still publish, but no longer read orders.
  t.same(await c.ask({ type: 'auth.refresh', token: token('alice', 7200, { scope: 'orders:write' }) }), { type: 'auth.refreshed', expiresAt: T0 + 7_200_000 })
  t.same(await c.next(), { type: 'topic.revoked', topic: 'orders.acme', action: 'subscribe' })
  t.same(events, [{ topic: 'orders.acme', action: 'subscribe', reason: 'missing-scope' }])
  t.same(await c.ask('held x'), [['orders.acme', ['publish']]], 'the publish grant stays tracked')
})

t.test('sessions on a route without authentication: idle and lifetime apply; refresh is refused', async (t) => {
  const { clock, base } = await harness(t, {
    session: { maxLifetimeMs: 5_000 },
    routes: (app) => {
      app.get('/public', { websocket: true, config: { auth: false } }, (socket, req) => {
        socket.on('message', () => socket.send(JSON.stringify({ principal: req.wsSession.principal, expiresAt: req.wsSession.expiresAt ?? null })))
      })
      app.get('/unmanaged', { websocket: true, config: { auth: false, session: false } }, (socket, req) => {
        socket.on('message', () => socket.send(JSON.stringify({ session: req.wsSession })))
      })
    }
  })
  const c = await open(t, `${base}/public`)
  t.same(await c.ask('x'), { principal: null, expiresAt: null })
  t.same(await c.ask({ type: 'auth.refresh', token: 'anything' }), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  const u = await open(t, `${base}/unmanaged`)
  t.same(await u.ask('x'), { session: null }, 'config.session: false opts out')
  clock.advance(5_000)
  t.same(await c.closed, { code: 4409, reason: 'maximum session lifetime reached' })
  t.equal(await u.ask('y').then(() => 'open'), 'open', 'the opted-out socket is not capped')
})

const alice: Principal = Object.freeze({ id: 'alice', kind: 'user', method: 'custom', issuer: 'https://idp.test', scopes: [], sessionId: 's1', expiresAt: T0 + 3_600_000, claims: { iat: T0 / 1000 } })

t.test('refresh needs auth-handshake or opts.authenticate: the app does not start without one', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(sessionExpiry, {})
  await t.rejects(async () => { await app.ready() }, { code: 'WSG_INVALID_OPTION', message: /opts\.refresh needs @wsguard\/auth-handshake/ })
})

t.test('a custom authenticator; its failure refuses the refresh with WSG_UNAVAILABLE', async (t) => {
  const outcomes: Array<AuthOutcome | Error> = [
    { ok: true, principal: { ...alice, expiresAt: T0 + 4_000_000 } },
    new Error('idp down'),
    { ok: true, principal: { ...alice, certificate: { fingerprint256: 'AA', subject: 'CN=alice', notAfter: T0 + 9_999_999 }, expiresAt: T0 + 5_000_000 } }
  ]
  const { base, logs } = await bare(t, { authenticate: async () => { const o = outcomes.shift(); if (o instanceof Error) throw o; return o as AuthOutcome } }, alice)
  const c = await open(t, `${base}/ws`)
  t.same(await c.ask({ type: 'auth.refresh', token: 't1' }), { type: 'auth.refreshed', expiresAt: T0 + 4_000_000 })
  t.same(await c.ask({ type: 'auth.refresh', token: 't2' }), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' })
  t.match(logs.text(), /session-expiry: refresh check failed; refused/)
  t.notMatch(logs.text(), /t2/, 'the token is not logged')
  t.same(await c.ask({ type: 'auth.refresh', token: 't3' }), { type: 'auth.refresh_failed', code: 'WSG_CERT_BINDING_MISMATCH' }, 'a certificate binding must stay the same')
})

function failingStore (fail: 'throw' | 'reject', revoked = false): RevocationStore {
  return {
    async revoke () {},
    isRevoked () {
      if (revoked) return Promise.resolve(true)
      if (fail === 'throw') throw new Error('store down')
      return Promise.reject(new Error('store down'))
    },
    subscribe () { return () => {} }
  }
}

t.test('a revocation store that fails refuses the handshake with 503, and one that is async works', async (t) => {
  for (const fail of ['throw', 'reject'] as const) {
    const { base, logs } = await bare(t, { refresh: false, revocations: failingStore(fail) }, alice)
    const r = await connect(t, `${base}/ws`)
    t.equal('refused' in r && r.status, 503, fail)
    t.equal('refused' in r && r.body.code, 'WSG_UNAVAILABLE')
    t.match(logs.text(), /revocation check failed; handshake refused/)
  }
  const { base } = await bare(t, { refresh: false, revocations: failingStore('reject', true) }, alice)
  const r = await connect(t, `${base}/ws`)
  t.equal('refused' in r && r.body.code, 'WSG_TOKEN_REVOKED', 'an async store that says revoked')
})

t.test('a refresh is refused when the new token is revoked, or when the store fails', async (t) => {
  let answer: 'no' | 'yes' | 'fail' = 'no'
  const store: RevocationStore = {
    async revoke () {},
    isRevoked: (p) => (p.expiresAt === T0 + 3_600_000 ? false : answer === 'fail' ? Promise.reject(new Error('down')) : answer === 'yes'),
    subscribe: () => () => {}
  }
  const { base } = await bare(t, { revocations: store, authenticate: async () => ({ ok: true, principal: { ...alice, expiresAt: T0 + 3_700_000 } }) }, alice)
  const c = await open(t, `${base}/ws`)
  answer = 'yes'
  t.same(await c.ask({ type: 'auth.refresh', token: 'x' }), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_REVOKED' })
  answer = 'fail'
  t.same(await c.ask({ type: 'auth.refresh', token: 'x' }), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' })
})

t.test('a revocation store that gives no answer in time denies: the handshake with 503, a refresh with WSG_UNAVAILABLE', async (t) => {
  let calls = 0
  let hang = false
  const store: RevocationStore = {
    async revoke () {},
    isRevoked: () => { calls++; return hang ? new Promise<boolean>(() => {}) : Promise.resolve(false) },
    subscribe: () => () => {}
  }
  const { base, clock, logs } = await bare(t, { revocations: store, revocationTimeoutMs: 500, authenticate: async () => ({ ok: true, principal: { ...alice, expiresAt: T0 + 3_700_000 } }) }, alice)
  const c = await open(t, `${base}/ws`)
  t.equal(clock.pendingTimers, 1, 'an answer in time clears its timer (the one left is the session deadline)')
  hang = true
  const refused = connect(t, `${base}/ws`)
  await until(() => calls === 2, 'the handshake\'s check')
  clock.advance(499)
  t.equal(clock.pendingTimers, 2, '1 ms before the limit, the check is still waited for')
  clock.advance(1)
  t.equal(clock.pendingTimers, 1, 'at the limit, given up')
  const r = await refused
  t.same('refused' in r && [r.status, r.body.code, r.headers['retry-after']], [503, 'WSG_UNAVAILABLE', '5'])
  t.match(logs.text(), /the revocation store gave no answer within 500 ms/)
  c.send({ type: 'auth.refresh', token: 'x' })
  await until(() => calls === 3, 'the refresh\'s check')
  clock.advance(500)
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_UNAVAILABLE' })
})

t.test('an async registry that fails is logged, never thrown at the socket', async (t) => {
  const registry: SessionRegistry = {
    add: () => Promise.reject(new Error('registry down')),
    update: () => Promise.reject(new Error('registry down')),
    remove: () => Promise.reject(new Error('registry down')),
    list: async () => []
  }
  const { base, logs, app } = await bare(t, { refresh: false, registry }, alice)
  const c = await open(t, `${base}/ws`)
  t.equal(await c.ask('x'), 'echo:x')
  t.same(await app.wsSessions.list(), [])
  c.ws.close()
  await c.closed
  t.match(logs.text(), /session registry call failed/)
})

t.test('a registry given is told of every session: opened, refreshed (the new expiry), closed', async (t) => {
  const calls: string[] = []
  const inner = new MemorySessionRegistry()
  const registry: SessionRegistry = {
    add: (info) => { calls.push(`add ${String(info.expiresAt)}`); return inner.add(info) },
    update: (info) => { calls.push(`update ${String(info.expiresAt)}`); return inner.update(info) },
    remove: (id) => { calls.push('remove'); return inner.remove(id) },
    list: (filter) => inner.list(filter)
  }
  const renewed = { ...alice, expiresAt: (alice.expiresAt as number) + 60_000 }
  const { base, app } = await bare(t, { registry, authenticate: async () => ({ ok: true, principal: renewed }) }, alice)
  const c = await open(t, `${base}/ws`)
  c.send({ type: 'auth.refresh', token: 'next' })
  t.same(await c.next(), { type: 'auth.refreshed', expiresAt: renewed.expiresAt })
  t.equal((await app.wsSessions.list())[0]?.expiresAt, renewed.expiresAt, 'list() reads the registry given')
  c.ws.close()
  await c.closed
  await until(() => calls.length === 3, 'the close told')
  t.same(calls, [`add ${String(alice.expiresAt)}`, `update ${String(renewed.expiresAt)}`, 'remove'])
})

t.test('without a registry, list() reads the live sessions: one without a credential has no expiresAt', async (t) => {
  const { base, app } = await bare(t, { refresh: false })
  const c = await open(t, `${base}/ws`)
  t.equal(await c.ask('x'), 'echo:x')
  const [info] = await app.wsSessions.list()
  t.equal(info?.principal, null)
  t.notOk(info !== undefined && 'expiresAt' in info, 'no expiry to tell')
  t.equal(info?.deadline, T0 + DEFAULT_MAX_LIFETIME_MS, 'the lifetime cap is the deadline')
})

t.test('list() reports a session\'s address even when its socket is already destroyed', async (t) => {
  let listed: Promise<readonly SessionInfo[]> | undefined
  const { base, app } = await bare(t, { refresh: false }, alice, {
    onFrame: (text, socket) => {
      if (text !== 'cut') return false
      ;(socket as unknown as { _socket: { destroy(): void } })._socket.destroy()
      listed = app.wsSessions.list() // read at once, before the socket's close is handled
      return true
    }
  })
  const c = await open(t, `${base}/ws`)
  c.send('cut')
  await c.closed
  t.equal((await (listed as Promise<readonly SessionInfo[]>))[0]?.remoteAddress, '127.0.0.1')
})

function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let settle!: (v: T) => void
  const promise = new Promise<T>((resolve) => { settle = resolve })
  return { promise, resolve: settle }
}

t.test('concurrent refreshes: the first to finish wins, the stale one is refused; none applies after close', async (t) => {
  const pending: Array<ReturnType<typeof deferred<AuthOutcome>>> = []
  const certified: Principal = { ...alice, certificate: { fingerprint256: 'AA', subject: 'CN=alice', notAfter: T0 + 9_999_999 } }
  const { base, app } = await bare(t, {
    maxLifetimeMs: 0,
    authenticate: () => { const d = deferred<AuthOutcome>(); pending.push(d); return d.promise }
  }, certified)
  const c = await open(t, `${base}/ws`)
  c.send({ type: 'auth.refresh', token: 'one' })
  c.send({ type: 'auth.refresh', token: 'two' })
  t.equal(await c.ask('sync'), 'echo:sync', 'both refreshes were taken before this frame')
  pending[1]?.resolve({ ok: true, principal: { ...certified, expiresAt: T0 + 4_000_000 } })
  t.same(await c.next(), { type: 'auth.refreshed', expiresAt: T0 + 4_000_000 }, 'same certificate binding: accepted')
  pending[0]?.resolve({ ok: true, principal: { ...certified, expiresAt: T0 + 5_000_000 } })
  t.same(await c.next(), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' }, 'made against a principal that is gone')
  const [info] = await app.wsSessions.list()
  t.equal(info?.deadline, T0 + 4_000_000 + 5_000, 'no lifetime cap with maxLifetimeMs: 0')

  c.send({ type: 'auth.refresh', token: 'three' })
  c.send({ type: 'auth.refresh', token: 'four' })
  await c.ask('sync')
  c.ws.close()
  await c.closed
  await until(() => app.wsSessions.size === 0, 'every session ended')
  pending[2]?.resolve({ ok: true, principal: { ...certified, expiresAt: T0 + 6_000_000 } })
  pending[3]?.resolve({ ok: false, code: 'WSG_TOKEN_EXPIRED' })
  await Promise.all([pending[2]?.promise, pending[3]?.promise])
  t.equal(app.wsSessions.size, 0, 'a refresh that finishes after close changes nothing and sends nothing')
})

t.test('a credential without expiry: no notice, no 4401; refresh keeps it that way', async (t) => {
  const { ChannelName, channel } = await import('@wsguard/core')
  const seen: unknown[] = []
  const l = (m: unknown): void => { seen.push(m) }
  channel(ChannelName.sessionRefreshed).subscribe(l)
  t.teardown(() => channel(ChannelName.sessionRefreshed).unsubscribe(l))
  const forever: Principal = { ...alice, expiresAt: undefined }
  const { base, clock } = await bare(t, { maxLifetimeMs: 0, authenticate: async () => ({ ok: true, principal: forever }) }, forever)
  const c = await open(t, `${base}/ws`)
  clock.advance(365 * 86_400_000)
  t.same(await c.ask({ type: 'auth.refresh', token: 'x' }), { type: 'auth.refreshed' })
  t.match(seen, [{ principal: { id: 'alice' } }])
  t.equal(seen.length, 1)
  t.notOk('expiresAt' in (seen[0] as object) || 'previousExpiresAt' in (seen[0] as object))
})

t.test('shutdown cuts off a client that does not answer the close within closeTimeoutMs, still reporting 1001', async (t) => {
  const { ChannelName, channel } = await import('@wsguard/core')
  const seen: Array<{ closeCode: number }> = []
  const l = (m: unknown): void => { seen.push(m as { closeCode: number }) }
  channel(ChannelName.sessionClosed).subscribe(l)
  t.teardown(() => channel(ChannelName.sessionClosed).unsubscribe(l))
  const { app, base, clock, sockets } = await bare(t, { refresh: false, closeTimeoutMs: 2_000 }, alice)
  const c = await open(t, `${base}/ws`)
  ;(c.ws as unknown as { _socket: { pause(): void } })._socket.pause()
  const closing = app.close()
  // Wait until shutdown has sent the close (the server socket is CLOSING) and armed its timeout.
  await until(() => sockets[0]?.readyState === 2, 'the socket is closing')
  clock.advance(2_000)
  await closing
  t.same(seen.map((m) => m.closeCode), [1001])
})

t.test('a websocket route added before the plugin is refused (503): its sockets could never expire', async (t) => {
  const { ChannelName } = await import('@wsguard/core')
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  app.get('/early', { websocket: true }, (socket) => { socket.send('should never open') })
  app.get('/early-unmanaged', { websocket: true, config: { session: false } }, (socket, req) => { socket.send(String(req.wsSession === null)) })
  await app.register(sessionExpiry, { clock: new FakeClock(T0), refresh: false })
  app.get('/late', { websocket: true }, (socket, req) => { socket.send(req.wsSession.id) })
  const { seen } = listen(t, ChannelName.handshakeRejected)
  await app.ready()

  await t.rejects(app.injectWS('/early'), { message: /Unexpected server response: 503/ })
  await t.rejects(app.injectWS('/early'), { message: /Unexpected server response: 503/ })
  t.match(seen, [{ source: '@wsguard/session-expiry', code: 'WSG_UNAVAILABLE', detail: 'route-not-governed', route: '/early' }, { route: '/early' }])
  t.equal(seen.length, 2, 'one refusal per handshake')
  const said = logs.lines.filter((l) => l.includes('websocket route /early was added before the plugin'))
  t.equal(said.length, 1, 'said once per route')
  t.match(said[0], /"level":50.*websocket route \/early was added before the plugin/)
  t.equal(app.wsSessions.size, 0)

  // An early route is told only by schema.hide, which an app may set: its opt-out is not trusted.
  await t.rejects(app.injectWS('/early-unmanaged'), { message: /Unexpected server response: 503/ }, 'a route that opted out with config.session: false, added before the plugin: refused too')
  const late = await app.injectWS('/late')
  t.teardown(() => late.terminate())
  t.equal(app.wsSessions.size, 1, 'a route added after gets its session as always')
})
