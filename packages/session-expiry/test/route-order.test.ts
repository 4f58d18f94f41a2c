import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { captureLogs, encapsulations, probeUpgrade } from '@wsguard/testing'
import { sessionExpiry } from '../src/index.js'

const route = (c: FastifyInstance, path: string): void => { c.get(path, { websocket: true }, (socket) => { socket.send('opened') }) }

t.test('a websocket route added before the plugin is refused 503 at every depth of encapsulation', async (t) => {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  const paths = Object.entries(encapsulations).map(([name, place], i) => [name, `/v1/early${i}`, place] as const)
  for (const [, path, place] of paths) await place(app, path, route)
  app.get('/plain', async () => 'plain')
  await app.register(sessionExpiry, { refresh: false, heartbeatMs: 0 })
  await app.register(async (c) => { route(c, '/v1/late') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const teardown = (fn: () => void): void => { t.teardown(fn) }

  for (const [name, path] of paths) {
    t.same(await probeUpgrade(base + path, {}, teardown), { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, name)
  }
  t.same(await probeUpgrade(`${base}/v1/late`, {}, teardown), { kind: 'message', data: 'opened' }, 'a route added after opens, with a session')
  t.same(await probeUpgrade(`${base}/plain`, {}, teardown), { kind: 'refused', status: 400, code: 'WSG_BAD_REQUEST' }, 'a plain HTTP route: 400, no 503')
  t.same(await probeUpgrade(`${base}/nowhere`, {}, teardown), { kind: 'refused', status: 404, code: undefined }, 'an unknown path: 404')
  t.equal(logs.lines.filter((l) => l.includes('was added before the plugin')).length, paths.length, 'each early route logged once')
  t.notOk(logs.text().includes('undefined'), 'no "route undefined"')
})
