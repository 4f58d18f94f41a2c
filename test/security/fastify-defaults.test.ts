// What plain Fastify and @fastify/websocket do that lets a credential out or keeps a socket
// open, shown on an app without wsguard's advice, and then on the suite's server, which is
// set up as test/README.md recommends (frameworkErrors, err.rawPacket redacted).
import type { AddressInfo, Socket } from 'node:net'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { captureLogs, until } from '@wsguard/testing'
import { leaked, searchableLog } from './leaks.js'
import { exchange, UPGRADE_HEADERS } from './raw-http.js'
import { securityServer } from './server.js'

const SECRET = 'c2VjcmV0LXRva2VuLXZhbHVlLTEyMzQ1Njc4'
const BAD_URL = `GET /ws/%zz?access_token=${SECRET} HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}\r\n`
const OVERSIZED = `GET /ws/acme HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\n` +
  `X-Pad: ${'p'.repeat(17_000)}\r\n\r\n`
const SECOND = 'GET /elsewhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'

/** A bare app (no frameworkErrors, no redact) with one websocket route, at trace; its sockets are cut at teardown. */
async function bareApp (t: Test): Promise<{ port: number, lines: string[], connections: () => Promise<number> }> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'trace', stream: logs.stream } })
  const sockets = new Set<Socket>()
  app.server.on('connection', (s: Socket) => sockets.add(s))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    // Whatever the server still tracks goes too, so close() never waits on a socket (a CI run once hung here for 120 s).
    app.server.closeAllConnections()
    await app.close()
  })
  await app.register(websocket)
  app.get('/ws/:tenant', { websocket: true }, (socket) => socket.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const connections = (): Promise<number> => new Promise((resolve) => app.server.getConnections((_err, n) => resolve(n)))
  return { port: (app.server.address() as AddressInfo).port, lines: logs.lines, connections }
}

t.test('a URL Fastify cannot decode, on an upgrade', async (t) => {
  const bare = await bareApp(t)
  const answer = await exchange(bare.port, BAD_URL, 5000)
  t.equal(answer.status, 400)
  const body = answer.bytes.toString('latin1')
  t.same(leaked(body, [SECRET]), [SECRET], 'by default the answer repeats the URL, query token included')
  // Once a later connection has come and gone, the server would have seen the first one end, if it read it.
  await exchange(bare.port, SECOND, 5000)
  await until(async () => await bare.connections() === 1, 'only the upgrade socket is left')
  t.equal(await bare.connections(), 1, 'by default the server keeps the upgrade socket, which nobody reads, open for good')

  const server = await securityServer(t)
  const fixed = await exchange(server.port, BAD_URL, 5000)
  t.equal(fixed.status, 400)
  t.same(leaked(fixed.bytes.toString('latin1'), [SECRET]), [], 'frameworkErrors: no URL in the answer')
  const count = (): Promise<number> => new Promise((resolve) => server.app.server.getConnections((_err, n) => resolve(n)))
  await until(async () => await count() === 0, 'the server closed the upgrade socket')
  t.equal(await count(), 0, 'and the socket is closed once answered')
})

t.test('a request head past 16 KB at trace level', async (t) => {
  const bare = await bareApp(t)
  t.equal((await exchange(bare.port, OVERSIZED, 5000)).status, 431)
  await until(() => bare.lines.some((l) => l.includes('client header_overflow')), 'the client-error line')
  t.same(leaked(searchableLog(bare.lines), [SECRET]), [SECRET], 'by default err.rawPacket holds the head, token included')

  const server = await securityServer(t, { logLevel: 'trace' })
  t.equal((await exchange(server.port, OVERSIZED, 5000)).status, 431)
  await until(() => server.logs.lines.some((l) => l.includes('client header_overflow')), 'the client-error line')
  t.same(leaked(searchableLog(server.logs.lines), [SECRET]), [], 'redacting err.rawPacket keeps it out')
})
