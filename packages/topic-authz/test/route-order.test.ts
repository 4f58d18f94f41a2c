import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { captureLogs, encapsulations, probeUpgrade } from '@wsguard/testing'
import { topicAuthz } from '../src/index.js'

const handshakeTopic = { action: 'subscribe', topic: 'status.{params.tenant}' }
const route = (c: FastifyInstance, path: string): void => {
  c.get(`${path}/:tenant`, { websocket: true, config: { handshakeTopic } }, (socket) => { socket.send('opened') })
}

t.test('a route with a handshake topic added before the plugin is refused 503 at every depth of encapsulation', async (t) => {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(websocket)
  const paths = Object.entries(encapsulations).map(([name, place], i) => [name, `/v1/early${i}`, place] as const)
  for (const [, path, place] of paths) await place(app, path, route)
  await app.register(topicAuthz, { policies: [{ pattern: 'status.>', actions: ['subscribe'] }] })
  await app.register(async (c) => { route(c, '/v1/late') })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const teardown = (fn: () => void): void => { t.teardown(fn) }

  for (const [name, path] of paths) {
    t.same(await probeUpgrade(`${base}${path}/acme`, {}, teardown), { kind: 'refused', status: 503, code: 'WSG_UNAVAILABLE' }, name)
  }
  t.same(await probeUpgrade(`${base}/v1/late/acme`, {}, teardown), { kind: 'message', data: 'opened' }, 'a route added after: its topic is checked and allowed')
  t.same(await probeUpgrade(`${base}/v1/late/a.b`, {}, teardown), { kind: 'refused', status: 403, code: 'WSG_TOPIC_DENIED' }, 'and denied')
  t.equal(logs.lines.filter((l) => l.includes('was added before the plugin')).length, paths.length, 'each early route logged once')
  t.notOk(logs.text().includes('undefined'), 'no "route undefined"')
})
