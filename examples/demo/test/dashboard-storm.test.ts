import t from 'tap'
import { createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import { WebSocketServer } from 'ws'
import { MAX_STORM_COUNT, MAX_STORM_MS, reconnectStorm } from '../src/dashboard/index.js'
import { dashboardApp, STORM_COUNT, STORM_MAX } from './dashboard-harness.js'

t.test('as one principal: the gate lets max through and throttles the rest; one anomaly', async (t) => {
  const h = await dashboardApp(t, { storm: null })
  const result = await reconnectStorm({ url: h.feed, getCredential: async () => h.token('mallory'), count: STORM_COUNT })
  t.same(result, { attempted: STORM_COUNT, opened: STORM_MAX, refused: { 429: STORM_COUNT - STORM_MAX }, failed: 0 })
  t.equal((await h.data()).anomalies['reconnect-storm'], 1)
})

t.test('without a credential every handshake is refused 401', async (t) => {
  const h = await dashboardApp(t, { storm: null })
  t.same(await reconnectStorm({ url: h.feed, count: 3 }), { attempted: 3, opened: 0, refused: { 401: 3 }, failed: 0 })
})

t.test('protocols and origin are sent; each socket is closed 1000 at once', async (t) => {
  const seen: Array<{ headers: IncomingHttpHeaders, closed: Promise<number> }> = []
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false })
  t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())))
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  wss.on('connection', (ws, request) => { seen.push({ headers: request.headers, closed: new Promise((resolve) => ws.once('close', resolve)) }) })
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`
  const result = await reconnectStorm({ url, protocols: ['feed.v1'], origin: 'http://app.test', getCredential: () => 'tok', count: 2 })
  t.same(result, { attempted: 2, opened: 2, refused: {}, failed: 0 })
  t.equal(seen.length, 2)
  for (const s of seen) {
    t.equal(s.headers.origin, 'http://app.test')
    t.equal(s.headers['sec-websocket-protocol'], 'feed.v1')
    t.equal(s.headers.authorization, 'Bearer tok')
    t.equal(await s.closed, 1000)
  }
})

t.test('nothing listening: every attempt failed', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  t.same(await reconnectStorm({ url: `ws://127.0.0.1:${port}/`, count: 2 }), { attempted: 2, opened: 0, refused: {}, failed: 2 })
})

t.test('a server that never answers: the storm ends at timeoutMs', async (t) => {
  const sockets: Socket[] = []
  const server = createServer((socket) => { sockets.push(socket) })
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const started = Date.now()
  const result = await reconnectStorm({ url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, count: 5, timeoutMs: 200 })
  t.same(result, { attempted: 1, opened: 0, refused: {}, failed: 1 }, 'no socket started past the deadline')
  t.ok(Date.now() - started < 5_000, 'bounded in time')
})

t.test('count and timeoutMs are bounded', async (t) => {
  const url = 'ws://127.0.0.1:1/'
  for (const count of [0, -1, 1.5, MAX_STORM_COUNT + 1, Number.NaN]) await t.rejects(reconnectStorm({ url, count }), { name: 'RangeError', message: `count must be an integer from 1 to ${MAX_STORM_COUNT}` }, `count ${count}`)
  for (const timeoutMs of [0, 2.5, MAX_STORM_MS + 1]) await t.rejects(reconnectStorm({ url, timeoutMs }), { name: 'RangeError', message: `timeoutMs must be an integer from 1 to ${MAX_STORM_MS}` }, `timeoutMs ${timeoutMs}`)
})
