import t from 'tap'
import type { Registry } from 'prom-client'
import { ChannelName, CloseCode, appIdentity, channel } from '@wsguard/core'
import { harness, open, until, T0 } from './helpers.js'
import { parseMetrics } from './prom.js'
import { MAX_LABEL_LENGTH, MAX_LABEL_VALUES, OTHER, visibleText } from '../src/labels.js'

// Finding 4: a client chooses its topic actions and its close code, and each distinct value
// became a permanent series: 3,000 actions grew /metrics from 13 KB to 1.8 MB.

const FLOOD = 3000

/** Series per metric, as prom-client holds them. */
async function series (registry: Registry): Promise<Map<string, number>> {
  return new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, m.values.length]))
}

const labelValues = async (registry: Registry, metric: string, label: string): Promise<Set<string>> => {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === metric)
  return new Set((m?.values ?? []).map((v) => String((v.labels as Record<string, unknown>)[label])))
}

// The standard codes ws can report, and wsguard's own.
const known = new Set([...Array.from({ length: 16 }, (_, i) => String(1000 + i)), ...Object.values(CloseCode).map(String)])

t.test('3,000 client-chosen actions and close codes leave the series bounded and /metrics small', async (t) => {
  const h = await harness(t, {}, (app) => {
    app.get('/act', { websocket: true, config: { topics: [{ pattern: 'feed.>', actions: ['subscribe'] }] } }, (socket, req) => {
      socket.on('message', (raw) => {
        const [action, topic] = String(raw).split(' ') as [string, string]
        if (action === 'done') socket.send('done')
        else req.authorizeTopic(action, topic)
      })
    })
  })
  const registry = h.app.wsguardTelemetry.registry as Registry
  const c = await open(t, `${h.base}/act`, h.token('alice'))
  c.send('subscribe feed.x')
  t.equal(await c.ask('done x'), 'done', 'a configured action first, so its series exists before')
  const before = await series(registry)
  const sizeBefore = (await h.app.inject('/metrics')).body.length

  // Through the real path: request.authorizeTopic with 3,000 made-up actions on one socket.
  for (let i = 0; i < FLOOD; i++) c.send(`act-${i} feed.x`)
  t.equal(await c.ask('done x'), 'done')
  // Real sockets closed with codes the client picked, and 3,000 more closes published as
  // session-expiry publishes them (one socket per code would be 3,000 handshakes).
  for (const code of [1000, 3000, 4123, 4999]) {
    const s = await open(t, `${h.base}/feed/acme`, h.token('bob'))
    s.ws.close(code, 'bye')
    t.equal((await s.closed).code, code)
  }
  await until(() => h.app.wsSessions.size === 1, 'the four sockets ended')
  const app = appIdentity(h.app)
  const closeCodes = [...new Set([...Object.values(CloseCode), ...Array.from({ length: 4000 }, (_, i) => 1000 + i)])].slice(0, FLOOD)
  for (let i = 0; i < FLOOD; i++) {
    const m = { app, sessionId: `s-${i}`, route: '/feed/:tenant', principal: null }
    channel(ChannelName.sessionOpened).publish({ ...m, openedAt: T0, deadline: T0 + 1, remoteAddress: '127.0.0.1' })
    channel(ChannelName.sessionClosed).publish({ ...m, closeCode: closeCodes[i] as number, closedBy: 'server', reason: '', openedAt: T0, closedAt: T0 + 1, framesIn: 0, framesOut: 0 })
  }

  const after = await series(registry)
  const grown = [...after].map(([name, n]) => [name, n - (before.get(name) ?? 0)] as const).filter(([, n]) => n > 0)
  const total = grown.reduce((sum, [, n]) => sum + n, 0)
  t.ok(total <= 400, `at most 400 new series, got ${total}: ${JSON.stringify(grown).slice(0, 200)}`)
  const codes = await labelValues(registry, 'wsguard_session_duration_seconds', 'code')
  t.same([...codes].filter((c) => !known.has(c) && c !== OTHER).slice(0, 5), [], 'no close code label outside the known ones and other')
  t.ok(codes.has(OTHER) && codes.has('1000') && codes.has('4401'), 'real codes keep their label; a made-up one is other')
  t.ok(codes.size <= 24, `close code labels: ${codes.size}`)
  t.same([...await labelValues(registry, 'wsguard_topic_decisions_total', 'action')].sort(), ['[unknown]', 'subscribe'])
  const body = (await h.app.inject('/metrics')).body
  t.ok(body.length < sizeBefore + 64 * 1024, `/metrics grew from ${sizeBefore} to ${body.length} bytes`)
  t.notMatch(body, /act-\d/, 'no client action in any label')
  const denied = h.audit().filter((e) => e.event === 'topic.denied')
  t.equal(denied.length, FLOOD)
  t.ok(denied.every((e) => e.action === '[unknown]' && e.reason === 'unknown-action'), 'the audit line carries the bounded action')
})

t.test('telemetry does not trust a publisher: actions, reasons and selectors are capped, codes checked', async (t) => {
  const h = await harness(t)
  const registry = h.app.wsguardTelemetry.registry as Registry
  const app = appIdentity(h.app)
  const decision = channel(ChannelName.topicDecision)
  for (let i = 0; i < FLOOD; i++) {
    decision.publish({ app, route: '/feed/:tenant', action: `forged-${i}`, allow: false, reason: `why-${i}` as never, shadow: false, principal: null, topic: 'feed.x' })
  }
  const long = 'a'.repeat(10_000)
  decision.publish({ app, action: long, allow: true, shadow: false, principal: null, topic: 'feed.x' })
  decision.publish({ app, action: 7 as never, allow: false, reason: 'no-rule', shadow: false, principal: null, topic: 'feed.x' })
  for (let i = 0; i < 100; i++) {
    channel(ChannelName.sessionRevoked).publish({ app, sessionId: `s-${i}`, route: '/r', principal: null, by: `by-${i}` as never })
    channel(ChannelName.sessionRefreshFailed).publish({ app, sessionId: `s-${i}`, route: '/r', principal: null, code: `WSG_FORGED_${i}` as never })
  }
  const actions = await labelValues(registry, 'wsguard_topic_decisions_total', 'action')
  t.equal(actions.size, MAX_LABEL_VALUES + 1, 'the first 32 distinct actions, then other')
  t.ok(actions.has(OTHER) && actions.has('forged-0') && !actions.has('forged-32') && !actions.has(long))
  t.equal((await labelValues(registry, 'wsguard_topic_decisions_total', 'reason')).size, MAX_LABEL_VALUES + 1)
  t.equal((await labelValues(registry, 'wsguard_revocations_total', 'by')).size, MAX_LABEL_VALUES + 1)
  t.same([...await labelValues(registry, 'wsguard_refreshes_total', 'code')], [OTHER], 'a code outside the catalogue is other')
  const lines = h.audit().filter((e) => e.event === 'topic.denied')
  t.equal(lines.length, FLOOD + 1)
  t.equal(lines.at(-1)?.action, OTHER, 'a non-string action')
  decision.publish({ app, action: long, allow: false, reason: 'no-rule', shadow: false, principal: null, topic: 'feed.x' })
  t.equal(h.audit().at(-1)?.action, `${'a'.repeat(MAX_LABEL_LENGTH)}…`, 'an audit line cuts a long action')
  t.ok(parseMetrics((await h.app.inject('/metrics')).body).size < 2000)
})

t.test('client-chosen text in audit lines shows every character a viewer could hide or turn', async (t) => {
  t.equal(visibleText(undefined), undefined)
  t.equal(visibleText('https://app.example'), 'https://app.example', 'plain ASCII as it is')
  t.equal(visibleText('caf\u00e9 ok'), 'caf\u00e9 ok', 'printable non-ASCII as it is')
  t.equal(visibleText('evil\u202egnp.exe'), 'evil\\u202egnp.exe', 'a right-to-left override')
  t.equal(visibleText('a\u0085b\u2028c\u2029d'), 'a\\u0085b\\u2028c\\u2029d', 'NEL and the line and paragraph separators')
  t.equal(visibleText('x\u200by\u0007z\u007f'), 'x\\u200by\\u0007z\\u007f', 'zero-width space, BEL, DEL')
  t.equal(visibleText('tag\u{e0041}'), 'tag\\ue0041', 'beyond the BMP too')
})
