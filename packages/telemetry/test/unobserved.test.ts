import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { Value } from '@sinclair/typebox/value'
import { captureLogs, openSocket, probeUpgrade } from '@wsguard/testing'
import { AuditEventSchema, telemetry } from '../src/index.js'
import { connect, harness } from './helpers.js'

// Finding 9: the "added before the plugin" warning also fired for a HEAD upgrade on a governed
// route, for an upgrade sent to a plain HTTP route, and for an unmatched URL ('route undefined').

/** An upgrade request sent with HEAD; resolves with the status of the plain answer. */
function headUpgrade (port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      agent: false, // the server destroys the socket after answering: never reuse one
      path,
      method: 'HEAD',
      headers: { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
    })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode as number) })
    req.on('upgrade', (_res, socket) => { socket.destroy(); reject(new Error('a HEAD request was upgraded')) })
    req.on('error', reject)
    req.end()
  })
}

t.test('the warning is for a websocket route added before telemetry, and nothing else', async (t) => {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  app.get('/early', { websocket: true }, (socket) => { socket.send('early') })
  app.route({ method: 'GET', url: '/early-pair', handler: async () => 'http', wsHandler: () => {} })
  app.get('/plain-early', async () => 'plain')
  await app.register(telemetry)
  app.get('/late', { websocket: true }, (socket) => { socket.send('late') })
  app.get('/plain', async () => 'plain')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const warned = (): string[] => logs.lines.filter((l) => l.includes('was added before the plugin'))

  t.equal(await headUpgrade(port, '/late'), 404, 'HEAD on a governed route: @fastify/websocket answers 404')
  t.equal(await headUpgrade(port, '/early'), 404, 'HEAD on the early route')
  t.same(warned(), [], 'a HEAD upgrade is no handshake: no warning')

  for (const path of ['/plain', '/plain-early']) {
    const c = await openSocket(`ws://127.0.0.1:${port}${path}`, { teardown: (fn) => t.teardown(fn) })
    t.equal((await c.closed).code, 1005, `${path}: upgraded, then closed by @fastify/websocket (no websocket handler)`)
  }
  const pair = await app.injectWS('/early-pair')
  t.teardown(() => pair.terminate())
  t.equal(pair.readyState, pair.OPEN, 'the { handler, wsHandler } route added early opened')
  await t.rejects(app.injectWS('/nowhere'), { message: 'Unexpected server response: 404' })
  t.same(warned(), [], 'plain HTTP routes, an unmatched URL, and the { handler, wsHandler } form (no mark to tell it by): no warning')

  const early = await app.injectWS('/early')
  t.teardown(() => early.terminate())
  t.equal(warned().length, 1, 'the early websocket route is still warned about')
  t.match(warned()[0], /"level":40,.*"route":"\/early".*websocket route \/early was added before the plugin/)
  t.notOk(logs.text().includes('undefined'), 'no log line names an undefined route')
})

t.test('no series and no audit line gets route "undefined", whatever the path', async (t) => {
  const h = await harness(t, {}, (app) => { app.get('/plain', async () => 'plain') })
  const teardown = (fn: () => void): void => { t.teardown(fn) }
  t.same(await probeUpgrade(`${h.base}/nowhere`, {}, teardown), { kind: 'refused', status: 404, code: undefined }, 'an unknown path: 404')
  t.same(await probeUpgrade(`${h.base}/plain`, {}, teardown), { kind: 'refused', status: 400, code: 'WSG_BAD_REQUEST' }, 'a plain route: 400 before any upgrade, never 503')
  t.equal(await headUpgrade((h.app.server.address() as AddressInfo).port, '/feed/acme'), 404, 'a HEAD upgrade: 404')
  const missing = await connect(t, `${h.base}/feed/acme`)
  t.same('refused' in missing && missing.status, 401, 'a real refusal, audited with its route')
  const body = (await h.app.inject('/metrics')).body
  t.notMatch(body, /route="undefined"/)
  const events = h.audit()
  t.ok(events.length > 0, 'the refusals were audited')
  for (const e of events) {
    t.not(e.route, undefined, `${String(e.event)} has a route`)
    t.ok(Value.Check(AuditEventSchema, e), `schema: ${String(e.event)} ${String(e.route)}`)
  }
})
