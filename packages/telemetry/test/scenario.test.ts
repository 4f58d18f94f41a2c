import t from 'tap'
import { Value } from '@sinclair/typebox/value'
import { mintToken, claimsFor } from '@wsguard/testing'
import { AuditEventSchema } from '../src/index.js'
import { harness, open, connect, until, key, ISS, AUD, T0 } from './helpers.js'
import { parseMetrics, sample } from './prom.js'

t.test('a scripted scenario: metrics deltas, and an audit stream that evidences it', async (t) => {
  const h = await harness(t)
  const before = await h.metrics()
  const aliceToken = h.token('alice', 3600)
  const alice = await open(t, `${h.base}/feed/acme`, aliceToken)
  const bob = await open(t, `${h.base}/feed/acme`, h.token('bob'))
  const expired = mintToken(key, { ...claimsFor(ISS, AUD, 'carol', T0 - 7_200_000, 60), tenant: 'acme' })
  const refusals = [
    await connect(t, `${h.base}/feed/acme`),
    await connect(t, `${h.base}/feed/acme`, expired),
    await connect(t, `${h.base}/feed/globex`, h.token('dave'))
  ]
  t.same(refusals.map((r) => 'refused' in r && r.body.code), ['WSG_CREDENTIAL_MISSING', 'WSG_TOKEN_EXPIRED', 'WSG_TOPIC_DENIED'])
  t.equal((await alice.ask('feed.acme.eu') as { allow: boolean }).allow, true)
  t.equal((await alice.ask('feed.globex.eu') as { allow: boolean }).allow, false)
  t.same(await alice.ask({ type: 'auth.refresh', token: h.token('alice', 7200) }), { type: 'auth.refreshed', expiresAt: T0 + 7_200_000 })
  t.same(await alice.ask({ type: 'auth.refresh', token: 'garbage' }), { type: 'auth.refresh_failed', code: 'WSG_TOKEN_INVALID' })
  await h.app.wsSessions.revoke({ subject: 'bob' })
  t.equal((await bob.closed).code, 4403)
  h.clock.advance(90_000)
  alice.ws.close(1000, 'done')
  await alice.closed
  await until(() => h.app.wsSessions.size === 0, 'both sessions ended')

  const after = await h.metrics()
  const delta = (name: string, labels: Record<string, string>): number => sample(after, name, labels) - sample(before, name, labels)
  const route = '/feed/:tenant'
  t.equal(delta('wsguard_handshakes_total', { route, outcome: 'accepted', code: 'none' }), 2)
  t.equal(delta('wsguard_handshakes_total', { route, outcome: 'rejected', code: 'WSG_CREDENTIAL_MISSING' }), 1)
  t.equal(delta('wsguard_handshakes_total', { route, outcome: 'rejected', code: 'WSG_TOKEN_EXPIRED' }), 1)
  t.equal(delta('wsguard_handshakes_total', { route, outcome: 'rejected', code: 'WSG_TOPIC_DENIED' }), 1)
  t.equal(delta('wsguard_handshake_duration_seconds_count', { route, outcome: 'accepted' }), 2)
  t.equal(delta('wsguard_handshake_duration_seconds_count', { route, outcome: 'rejected' }), 3)
  t.equal(delta('wsguard_refreshes_total', { route, outcome: 'success', code: 'none' }), 1)
  t.equal(delta('wsguard_refreshes_total', { route, outcome: 'failure', code: 'WSG_TOKEN_INVALID' }), 1)
  t.equal(delta('wsguard_revocations_total', { route, by: 'subject' }), 1)
  t.equal(sample(after, 'wsguard_sessions_active', { route }), 0)
  t.equal(delta('wsguard_session_duration_seconds_count', { route, code: '4403' }), 1)
  t.equal(delta('wsguard_session_duration_seconds_count', { route, code: '1000' }), 1)
  t.equal(delta('wsguard_session_duration_seconds_sum', { route, code: '1000' }), 90, 'duration from the fake clock: 90 s')
  t.equal(delta('wsguard_topic_decisions_total', { route, action: 'subscribe', outcome: 'allow', reason: 'none', shadow: 'false' }), 4, 'two handshake topics, one in-band, and the refresh, which passes the handshake topic again')
  t.equal(delta('wsguard_topic_decisions_total', { route, action: 'subscribe', outcome: 'deny', reason: 'claim-mismatch', shadow: 'false' }), 2)
  for (const [k] of after) t.notMatch(k, /alice|bob|carol|dave|feed\.acme/, `no subject or raw topic in a label: ${k}`)

  const events = h.audit()
  for (const e of events) t.ok(Value.Check(AuditEventSchema, e), `schema: ${String(e.event)}`)
  const kinds = events.map((e) => e.event)
  t.same(kinds.filter((k) => k === 'handshake.rejected').length, 3)
  const aliceEvents = events.filter((e) => (e.who as { subject?: string } | undefined)?.subject === 'alice' && String(e.event).startsWith('session.'))
  t.same(aliceEvents.map((e) => e.event), ['session.opened', 'session.refreshed', 'session.refresh_failed', 'session.closed'])
  t.match(aliceEvents[0], { v: 2, route, remoteAddress: '127.0.0.1', who: { subject: 'alice', issuer: ISS, method: 'jwt', kind: 'user', expiresAt: T0 + 3_600_000 } })
  t.match(aliceEvents[3], { code: 1000, reason: 'done', durationMs: 90_000, framesIn: 4, openedAt: T0 })
  const opened = events.filter((e) => e.event === 'session.opened').map((e) => e.sessionId)
  const closed = events.filter((e) => e.event === 'session.closed').map((e) => e.sessionId)
  t.same([...closed].sort(), [...opened].sort(), 'every session.opened has exactly one session.closed')
  t.match(events.find((e) => e.event === 'session.revoked'), { by: 'subject', who: { subject: 'bob' } })
  const denied = events.find((e) => e.event === 'topic.denied' && e.topic === 'feed.globex.eu')
  t.match(denied, { action: 'subscribe', reason: 'claim-mismatch', shadow: false, remoteAddress: '127.0.0.1', who: { subject: 'alice' } })
  t.equal(denied?.sessionId, aliceEvents[0]?.sessionId, "the in-band denial carries alice's connection id")
  t.match(events.find((e) => e.event === 'handshake.rejected' && e.code === 'WSG_TOKEN_EXPIRED'), { source: '@wsguard/auth-handshake', statusCode: 401, detail: 'expired' })
  const text = h.logs.text()
  for (const tok of [aliceToken, expired]) {
    t.notOk(text.includes(tok.split('.')[2] as string), 'no token signature in any log line')
    t.notOk(text.includes(tok.split('.')[1] as string), 'no token payload in any log line')
  }
})

t.test('shutdown: open sessions get their session.closed (1001)', async (t) => {
  const h = await harness(t)
  await open(t, `${h.base}/feed/acme`, h.token('alice'))
  await h.app.close()
  const events = h.audit()
  t.same(events.filter((e) => String(e.event).startsWith('session.')).map((e) => [e.event, e.code]), [['session.opened', undefined], ['session.closed', 1001]])
})

t.test('events it did not see open, decisions without a route, a custom metrics path, closing with a timer armed', async (t) => {
  const h = await harness(t, { metrics: { path: '/internal/metrics' }, anomalies: { longSession: { afterMs: 3_600_000 } } })
  const { ChannelName, appIdentity, channel } = await import('@wsguard/core')
  channel(ChannelName.sessionClosed).publish({ app: appIdentity(h.app), sessionId: 'opened-before-telemetry', route: '/x', principal: null, closeCode: 1000, closedBy: 'peer', reason: '', openedAt: T0, closedAt: T0 + 1, framesIn: 0, framesOut: 0 })
  t.match(h.audit().at(-1), { event: 'session.closed', sessionId: 'opened-before-telemetry' })
  t.notOk('remoteAddress' in (h.audit().at(-1) as object), 'what it does not know is left out')
  h.app.topicAuthz.authorize(null, 'subscribe', 'feed.acme')
  t.match(h.audit().at(-1), { event: 'topic.denied', reason: 'claim-mismatch', topic: 'feed.acme' })
  t.notOk('route' in (h.audit().at(-1) as object))
  const text = (await h.app.inject('/internal/metrics')).body
  t.match(text, /wsguard_topic_decisions_total\{route="",action="subscribe",outcome="deny",reason="claim-mismatch",shadow="false"\} 1/)
  t.equal((await h.app.inject('/metrics')).statusCode, 404)
  await open(t, `${h.base}/feed/acme`, h.token('alice'))
  t.ok(h.clock.pendingTimers > 0, 'the long-session check is armed')
  await h.app.close()
  t.equal(h.clock.pendingTimers, 0, 'and cleared on close')
})

t.test('routes with their own hooks, without authentication, and a plain GET on a websocket route', async (t) => {
  const ran: string[] = []
  const h = await harness(t, { anomalies: { reconnectStorm: { perPrincipal: { max: 100, windowMs: 60_000 } } } }, (app) => {
    app.get('/own', {
      websocket: true,
      config: { auth: false, session: false },
      onRequest: (_q, _r, done) => { ran.push('own onRequest'); done() },
      preValidation: [(_q, _r, done) => { ran.push('own preValidation'); done() }],
      preHandler: (_q, _r, done) => { ran.push('own preHandler'); done() },
      onResponse: [(_q, _r, done) => { done() }]
    }, (socket) => { socket.send('hi') })
  })
  const c = await open(t, `${h.base}/own`)
  t.equal(await c.next(), 'hi', 'no principal: the principal gate lets it through')
  t.same(ran, ['own onRequest', 'own preValidation', 'own preHandler'])
  t.equal((await h.app.inject('/feed/acme')).statusCode, 404, 'a plain GET (no upgrade: @fastify/websocket answers 404) is not timed as a handshake')
  const m = await h.metrics()
  t.equal(sample(m, 'wsguard_handshakes_total', { route: '/own', outcome: 'accepted', code: 'none' }), 1)
  t.equal(sample(m, 'wsguard_handshakes_total', { route: '/feed/:tenant', outcome: 'accepted', code: 'none' }), 0, 'the plain GET was not counted')
  t.equal(sample(m, 'wsguard_handshake_duration_seconds_count', { route: '/feed/:tenant', outcome: 'rejected' }), 0, 'no duration for it')
})

t.test('audit: false counts everything and writes no audit line, with or without the long-session check', async (t) => {
  for (const opts of [{ audit: false }, { audit: false, anomalies: { longSession: { afterMs: 60_000 } } }]) {
    const h = await harness(t, opts)
    const alice = await open(t, `${h.base}/feed/acme`, h.token('alice', 3600))
    t.same(await alice.ask({ type: 'auth.refresh', token: h.token('alice', 7200) }), { type: 'auth.refreshed', expiresAt: T0 + 7_200_000 })
    const route = '/feed/:tenant'
    t.equal(sample(await h.metrics(), 'wsguard_sessions_active', { route }), 1, 'read while open: one')
    h.clock.advance(120_000)
    alice.ws.close(1000, 'done')
    await alice.closed
    await until(() => h.app.wsSessions.size === 0, 'the session ended')
    const m = await h.metrics()
    t.equal(sample(m, 'wsguard_handshakes_total', { route, outcome: 'accepted', code: 'none' }), 1)
    t.equal(sample(m, 'wsguard_refreshes_total', { route, outcome: 'success', code: 'none' }), 1)
    t.equal(sample(m, 'wsguard_sessions_active', { route }), 0)
    t.equal(sample(m, 'wsguard_session_duration_seconds_count', { route, code: '1000' }), 1)
    t.equal(sample(m, 'wsguard_anomalies_total', { kind: 'long-session' }), 'anomalies' in opts ? 1 : 0, 'the long-session check still runs')
    t.same(h.audit(), [], 'no audit line')
    await h.app.close()
  }
})

t.test('the audit trail keeps to info when the app logs at warn, and stops only at silent', async (t) => {
  for (const level of ['warn', 'silent']) {
    const h = await harness(t, {}, undefined, level)
    const alice = await open(t, `${h.base}/feed/acme`, h.token('alice', 3600))
    alice.ws.close(1000, 'done')
    await alice.closed
    await until(() => h.app.wsSessions.size === 0, 'the session ended')
    if (level === 'warn') {
      t.same(h.audit().map((e) => e.event), ['session.opened', 'session.closed'], 'warn: the audit lines are written')
      t.notOk(h.logs.lines.some((l) => l.includes('incoming request')), 'warn: the app level still holds for request logs')
    } else {
      t.same(h.logs.lines, [], 'silent: nothing at all')
    }
    await h.app.close()
  }
})

t.test('two apps in one process: each telemetry counts and audits its own app only', async (t) => {
  const a = await harness(t)
  const b = await harness(t)
  const route = '/feed/:tenant'
  const alice = await open(t, `${a.base}/feed/acme`, a.token('alice'))
  const bob = await open(t, `${b.base}/feed/acme`, b.token('bob'))
  const refused = await connect(t, `${b.base}/feed/acme`)
  t.ok('refused' in refused, 'a refusal on the second app')
  t.equal((await bob.ask('feed.globex.eu') as { allow: boolean }).allow, false, 'a topic denied on the second app')
  const [ma, mb] = [await a.metrics(), await b.metrics()]
  for (const [m, name] of [[ma, 'first'], [mb, 'second']] as const) {
    t.equal(sample(m, 'wsguard_handshakes_total', { route, outcome: 'accepted', code: 'none' }), 1, `${name}: its own accepted handshake`)
    t.equal(sample(m, 'wsguard_sessions_active', { route }), 1, `${name}: its own open session`)
  }
  t.equal(sample(ma, 'wsguard_handshakes_total', { route, outcome: 'rejected', code: 'WSG_CREDENTIAL_MISSING' }), 0, 'first: not the other app\'s refusal')
  t.equal(sample(mb, 'wsguard_handshakes_total', { route, outcome: 'rejected', code: 'WSG_CREDENTIAL_MISSING' }), 1)
  alice.ws.close(1000, 'done')
  bob.ws.close(1000, 'done')
  await Promise.all([alice.closed, bob.closed])
  await until(() => a.app.wsSessions.size === 0 && b.app.wsSessions.size === 0, 'both sessions ended')
  t.equal(sample(await a.metrics(), 'wsguard_sessions_active', { route }), 0, 'never below zero: it saw only its own close')
  const subjects = (h: typeof a): unknown[] => h.audit().map((e) => [e.event, (e.who as { subject?: string } | undefined)?.subject])
  t.same(subjects(a), [['session.opened', 'alice'], ['session.closed', 'alice']])
  t.same(subjects(b), [['session.opened', 'bob'], ['handshake.rejected', undefined], ['topic.denied', 'bob'], ['session.closed', 'bob']])
})

t.test('an Origin the client floods is cut in the audit trail', async (t) => {
  const h = await harness(t)
  const { connectSocket, openSocket } = await import('@wsguard/testing')
  const origin = `https://${'x'.repeat(10_000)}.test`
  const refused = await connectSocket(`${h.base}/feed/acme`, { client: { headers: { origin } }, teardown: (fn) => t.teardown(fn) })
  t.ok('refused' in refused)
  const alice = await openSocket(`${h.base}/feed/acme`, { token: h.token('alice'), client: { headers: { origin } }, teardown: (fn) => t.teardown(fn) })
  alice.ws.close(1000, 'done')
  await until(() => h.app.wsSessions.size === 0, 'the session ended')
  const events = h.audit()
  t.same(events.map((e) => [e.event, String(e.origin).length]), [['handshake.rejected', 301], ['session.opened', 301], ['session.closed', 301]])
})

t.test('handshake counts read twice are not counted twice', async (t) => {
  const h = await harness(t)
  const route = '/feed/:tenant'
  const first = await h.metrics()
  t.equal(first.get(`wsguard_handshakes_total{code="none",outcome="accepted",route="${route}"}`), 0, 'the series is there at 0 before any handshake')
  t.equal(first.get(`wsguard_sessions_active{route="${route}"}`), 0)
  await open(t, `${h.base}/feed/acme`, h.token('alice'))
  t.equal(sample(await h.metrics(), 'wsguard_handshakes_total', { route, outcome: 'accepted', code: 'none' }), 1)
  t.equal(sample(await h.metrics(), 'wsguard_handshakes_total', { route, outcome: 'accepted', code: 'none' }), 1)
  await open(t, `${h.base}/feed/acme`, h.token('bob'))
  t.equal(sample(await h.metrics(), 'wsguard_handshakes_total', { route, outcome: 'accepted', code: 'none' }), 2)
})

t.test('a websocket route added before telemetry is not refused, and the log says once what it misses', async (t) => {
  const { default: Fastify } = await import('fastify')
  const { default: websocket } = await import('@fastify/websocket')
  const { captureLogs } = await import('@wsguard/testing')
  const { telemetry } = await import('../src/index.js')
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  app.get('/early', { websocket: true }, (socket) => { socket.send('early') })
  await app.register(telemetry, { anomalies: { reconnectStorm: { perIp: { max: 1, windowMs: 60_000 }, action: 'throttle' } } })
  app.get('/late', { websocket: true }, (socket) => { socket.send('late') })
  await app.ready()
  const opened: boolean[] = []
  for (let i = 0; i < 2; i++) {
    const ws = await app.injectWS('/early')
    t.teardown(() => ws.terminate())
    opened.push(ws.readyState === ws.OPEN)
  }
  t.same(opened, [true, true], 'two handshakes on the early route went through, past a per-IP limit of 1 it never applied')
  const late = await app.injectWS('/late')
  t.teardown(() => late.terminate())
  const said = logs.lines.filter((l) => l.includes('was added before the plugin'))
  t.equal(said.length, 1, 'said once, and only for the early route')
  t.match(said[0], /"level":40.*websocket route \/early was added before the plugin, so its handshakes are not timed or counted/)
  const m = parseMetrics((await app.inject('/metrics')).body)
  t.equal(sample(m, 'wsguard_handshakes_total', { route: '/late', outcome: 'accepted', code: 'none' }), 1)
  t.equal(sample(m, 'wsguard_handshakes_total', { route: '/early', outcome: 'accepted', code: 'none' }), 0, 'the early route is not counted')
})
