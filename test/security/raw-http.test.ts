// exchange(): whatever the server does (a body of a given length, chunks, a 101, nothing,
// a reset), one answer comes back and the socket is closed.
import { createServer, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { exchange, whole } from './raw-http.js'

/** A server that does `reply` with each connection's socket once the request arrived. */
async function scripted (t: Test, reply: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => { socket.once('data', () => reply(socket)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as { port: number }).port
}

const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'

t.test('a body of the announced length, in two writes', async (t) => {
  const port = await scripted(t, (s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe'); setImmediate(() => s.write('llo')) })
  const a = await exchange(port, GET, 5000)
  t.equal(a.status, 200)
  t.equal(a.bytes.toString().endsWith('\r\n\r\nhello'), true)
  t.equal(a.timedOut, false)
})

t.test('a chunked body ends with its last chunk', async (t) => {
  const port = await scripted(t, (s) => { s.write('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n'); setImmediate(() => s.write('0\r\n\r\n')) })
  const a = await exchange(port, GET, 5000)
  t.equal(a.status, 404)
  t.match(a.head, /transfer-encoding: chunked/i)
})

t.test('a 101 is whole at the end of its head; a HEAD answer has no body', async (t) => {
  const port = await scripted(t, (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'))
  t.equal((await exchange(port, GET, 5000)).status, 101)
  const head = await scripted(t, (s) => s.write('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n'))
  t.equal((await exchange(head, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n', 5000)).status, 404)
})

t.test('a body that ends with the connection, a close with nothing, a reset', async (t) => {
  const closing = await scripted(t, (s) => s.end('HTTP/1.0 200 OK\r\n\r\nuntil close'))
  const a = await exchange(closing, GET, 5000)
  t.same([a.status, a.head, a.timedOut], [200, 'HTTP/1.0 200 OK', false])
  const silent = await scripted(t, (s) => s.end())
  t.same([(await exchange(silent, GET, 5000)).status, (await exchange(silent, GET, 5000)).bytes.length], [0, 0])
  const reset = await scripted(t, (s) => s.resetAndDestroy())
  t.equal((await exchange(reset, GET, 5000)).status, 0)
})

t.test('no answer in time', async (t) => {
  const port = await scripted(t, (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'))
  const a = await exchange(port, GET, 100)
  t.same([a.status, a.timedOut], [200, true])
})

t.test('an answer is whole once its head is, and its body when it has one', async (t) => {
  t.equal(whole(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgr'), false), undefined, 'a head not yet ended')
  t.equal(whole(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nx'), false), undefined, 'a body not yet whole')
  t.equal(whole(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nxy'), false)?.status, 200)
  t.equal(whole(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n'), false), undefined, 'chunks not yet ended')
})
