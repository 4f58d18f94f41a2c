import t from 'tap'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import type { IncomingMessage } from 'node:http'
import { channel, ChannelName, headTruncated, refuseTruncatedHeads } from '../src/index.js'

const raw = (entries: number): IncomingMessage => ({ rawHeaders: new Array(entries).fill('a') }) as unknown as IncomingMessage

t.test('headTruncated: at Node\'s limit (1,000 lines, or maxHeadersCount), never with 0', async (t) => {
  t.equal(headTruncated(raw(1_998), { maxHeadersCount: null as unknown as number }), false, '999 lines, the default limit')
  t.equal(headTruncated(raw(2_000), { maxHeadersCount: null as unknown as number }), true, '1,000 lines: lines may have been dropped')
  t.equal(headTruncated(raw(38), { maxHeadersCount: 20 }), false)
  t.equal(headTruncated(raw(40), { maxHeadersCount: 20 }), true, 'the app\'s own limit')
  t.equal(headTruncated(raw(100_000), { maxHeadersCount: 0 }), false, '0: Node keeps every line')
  t.equal(headTruncated({} as IncomingMessage, { maxHeadersCount: 1 }), false, 'no raw headers (an injected request)')
})

t.test('refuseTruncatedHeads: an upgrade to a route with its header lines at the limit is refused 400 and published; one hook per app', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  // Stands in for @fastify/websocket, whose onRequest hook marks upgrades (registered first).
  app.decorateRequest('ws', false)
  app.addHook('onRequest', async (request) => { (request as unknown as { ws: boolean }).ws = request.headers['x-upgrade'] === 'yes' })
  refuseTruncatedHeads(app, '@wsguard/example')
  await app.register(async (child) => { refuseTruncatedHeads(child, '@wsguard/other') }) // inherits the guard: adds none
  refuseTruncatedHeads(app, '@wsguard/other')
  app.get('/ws', async () => 'handled')
  app.get('/governed', { config: { governHttp: true } }, async () => 'handled')
  await app.listen({ port: 0, host: '127.0.0.1' })
  app.server.maxHeadersCount = 30 // fetch adds some ten lines of its own
  const port = (app.server.address() as AddressInfo).port
  const published: unknown[] = []
  const listener = (m: unknown): void => { published.push(m) }
  channel(ChannelName.handshakeRejected).subscribe(listener)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(listener))
  const send = async (path: string, lines: number, upgrade = true): Promise<{ status: number, body: string }> => {
    const headers: Record<string, string> = upgrade ? { 'x-upgrade': 'yes' } : {}
    for (let i = 0; i < lines; i++) headers[`x-pad-${i}`] = 'b'
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers })
    return { status: res.status, body: await res.text() }
  }
  const refused = await send('/ws', 40)
  t.equal(refused.status, 400)
  t.match(refused.body, /WSG_BAD_REQUEST/)
  t.match(published, [{ source: '@wsguard/example', code: 'WSG_BAD_REQUEST', route: '/ws', detail: 'header-lines-dropped' }], 'published once, by the hook of the first plugin')
  t.equal(published.length, 1)
  t.same(await send('/ws', 2), { status: 200, body: 'handled' }, 'a head under the limit')
  t.same(await send('/ws', 40, false), { status: 200, body: 'handled' }, 'not an upgrade: left to Node and the app')
  t.equal((await send('/nowhere', 40)).status, 404, 'no route: the not-found answer')
  // Found by the review of this change: a route whose plain requests get the handshake's checks.
  const governed = await send('/governed', 40, false)
  t.same([governed.status, /WSG_BAD_REQUEST/.test(governed.body)], [400, true], 'a plain request to a config.governHttp route: refused too')
  t.same(await send('/governed', 2, false), { status: 200, body: 'handled' })
  t.equal(published.length, 1, 'a plain request is no handshake: not published')
  // A request no server parsed (app.inject): the app's server's limit is the one read.
  const headers: Record<string, string> = { 'x-upgrade': 'yes' }
  for (let i = 0; i < 40; i++) headers[`x-pad-${i}`] = 'b'
  t.equal((await app.inject({ url: '/ws', headers })).statusCode, 400, 'injected: refused by the app server\'s limit')
})
