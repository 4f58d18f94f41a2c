// credentialWebSocket(): a WebSocket class for frameworks that construct their own sockets
// (graphql-ws's webSocketImpl, tRPC's createWSClient({ WebSocket })).
import t from 'tap'
import WsWebSocket from 'ws'
import { credentialWebSocket, TICKET_PREFIX } from '../src/index.js'
import { credentialWebSocket as nodeCredentialWebSocket } from '../src/node.js'
import { fakeWebSocket, type FakeSocket } from './helpers.js'

const last = (sockets: FakeSocket[]): FakeSocket => sockets[sockets.length - 1] as FakeSocket

t.test('a synchronous getToken: the bearer entry after the framework\'s protocols and ours, asked for each socket', async (t) => {
  const { WebSocket, sockets } = fakeWebSocket()
  let n = 0
  const Authed = credentialWebSocket({ getToken: () => `tok-${++n}`, WebSocket })
  const graphql = new Authed('wss://api.test/graphql', 'graphql-transport-ws')
  t.ok(graphql instanceof WebSocket, 'a subclass of the base')
  t.same(last(sockets).protocols, ['graphql-transport-ws', 'bearer.tok-1'])
  t.ok(new Authed('wss://api.test/graphql', ['a', 'b']))
  t.same(last(sockets).protocols, ['a', 'b', 'bearer.tok-2'])
  const Trpc = credentialWebSocket({ getToken: () => 'tok', protocols: ['trpc'], subprotocolPrefix: 'jwt.', WebSocket })
  t.ok(new Trpc('wss://api.test/trpc'))
  t.same(last(sockets).protocols, ['trpc', 'jwt.tok'], 'tRPC offers none: ours, then the credential')
  t.equal(last(sockets).url, 'wss://api.test/trpc')
})

t.test('without getToken or ticketUrl: only the protocols (a cookie carries the credential)', async (t) => {
  const { WebSocket, sockets } = fakeWebSocket()
  const Plain = credentialWebSocket({ protocols: ['trpc'], WebSocket })
  t.ok(new Plain('wss://api.test/trpc'))
  t.same(last(sockets).protocols, ['trpc'])
  t.equal(await Plain.prepare('wss://api.test/trpc'), 'wss://api.test/trpc', 'prepare has nothing to fetch')
  t.ok(new Plain('wss://api.test/other'), 'and holds nothing back for another url')
  t.same(last(sockets).protocols, ['trpc'])
})

t.test('an async getToken: prepare(url) before each socket; without it the constructor throws', async (t) => {
  const { WebSocket, sockets } = fakeWebSocket()
  let n = 0
  const Authed = credentialWebSocket({ getToken: async () => `async-${++n}`, WebSocket })
  t.equal(await Authed.prepare('wss://api.test/graphql'), 'wss://api.test/graphql')
  t.ok(new Authed('wss://api.test/graphql', 'graphql-transport-ws'))
  t.same(last(sockets).protocols, ['graphql-transport-ws', 'bearer.async-1'])
  t.throws(() => new Authed('wss://api.test/graphql'), { name: 'TypeError', message: /getToken\(\) must return a token synchronously here/ })
  // The constructor checks its url as prepare() does: a user or password never reaches the base class.
  for (const url of ['wss://feed:s3cret@api.test/graphql', new URL('wss://feed:s3cret@api.test/graphql')]) {
    t.throws(() => new Authed(url), { code: 'WSG_INVALID_OPTION', message: /^(?!.*s3cret)Invalid option: url must be a ws: or wss: URL, with no user or password$/ })
  }
  t.equal(sockets.length, 1, 'the prepared credential was used once')
  const Rejecting = credentialWebSocket({ getToken: async () => { throw new Error('signed out') }, WebSocket })
  t.throws(() => new Rejecting('wss://api.test/graphql'), { name: 'TypeError' }, 'its rejection is not left unhandled')
  await t.rejects(Rejecting.prepare('wss://api.test/graphql'), { message: 'signed out' })
})

t.test('a ticket per socket through prepare(url), with the bearer token and the url\'s path', async (t) => {
  const { WebSocket, sockets } = fakeWebSocket()
  const requests: Array<{ url: string, init: RequestInit }> = []
  let n = 0
  const fetchSpy = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    requests.push({ url: String(url), init: init as RequestInit })
    return new Response(JSON.stringify({ ticket: `t${++n}`, expiresAt: 0 }))
  }
  const Ticketed = credentialWebSocket({ getToken: () => 'tok', ticketUrl: 'https://api.test/tickets', protocols: ['trpc'], WebSocket, fetch: fetchSpy as typeof fetch })
  t.throws(() => new Ticketed('wss://api.test/trpc'), { name: 'TypeError', message: /with ticketUrl, call prepare\(url\) before each socket/ })
  t.equal(await Ticketed.prepare(new URL('wss://api.test/trpc?x=1')), 'wss://api.test/trpc?x=1')
  t.ok(new Ticketed('wss://api.test/trpc?x=1'))
  t.same(last(sockets).protocols, ['trpc', `${TICKET_PREFIX}t1`])
  t.equal(requests[0]?.url, 'https://api.test/tickets')
  t.same(requests[0]?.init.headers, { 'content-type': 'application/json', authorization: 'Bearer tok' })
  t.equal(requests[0]?.init.body, JSON.stringify({ path: '/trpc' }))
  t.throws(() => new Ticketed('wss://api.test/trpc'), { name: 'TypeError' }, 'a ticket is used once')
  // Prepared for one URL, never carried to another (a ticket is bound to its path).
  await Ticketed.prepare('wss://api.test/trpc')
  t.throws(() => new Ticketed('wss://api.test/admin'), { name: 'TypeError', message: /not the one prepare\(url\) was given; the prepared credential was dropped/ })
  t.throws(() => new Ticketed('wss://api.test/trpc'), { name: 'TypeError', message: /call prepare\(url\) before each socket/ }, 'dropped, not kept for later')
  await Ticketed.prepare('wss://api.test/trpc')
  t.throws(() => new Ticketed('not a url at all'), { name: 'TypeError', code: 'WSG_INVALID_OPTION', message: /url must be a ws: or wss: URL/ })
  t.throws(() => new Ticketed('wss://api.test/trpc'), { name: 'TypeError', message: /call prepare\(url\) before each socket/ }, 'the prepared ticket was dropped there too')
  t.equal(sockets.length, 1, 'no socket carried a ticket prepared for another URL')
  await t.rejects(Ticketed.prepare('ftp://api.test/trpc'), { code: 'WSG_INVALID_OPTION', message: /prepare\(url\): url must be a ws: or wss: URL/ })
  await t.rejects(Ticketed.prepare('wss://feed:s3cret@api.test/trpc'), { code: 'WSG_INVALID_OPTION', message: /^(?!.*s3cret).*prepare\(url\): url must be a ws: or wss: URL, with no user or password$/ })
})

t.test('options are checked when the class is made', async (t) => {
  const { WebSocket } = fakeWebSocket()
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ getToken: 'tok' }, /opts\.getToken must be a function/],
    [{ protocols: 'trpc' }, /opts\.protocols must be an array of subprotocol names/],
    [{ protocols: ['a b'] }, /opts\.protocols/],
    [{ subprotocolPrefix: '' }, /opts\.subprotocolPrefix/],
    [{ WebSocket: 'ws' }, /opts\.WebSocket must be a WebSocket class/],
    [{ fetch: 1 }, /opts\.fetch must be a function/],
    [{ ticketUrl: 'wss://api.test/t' }, /opts\.ticketUrl must be a http: or https: URL/],
    [{ ticketUrl: 'https://feed:s3cret@api.test/t' }, /^(?!.*s3cret)Invalid option: opts\.ticketUrl must be a http: or https: URL, with no user or password$/]
  ]
  for (const [change, message] of bad) {
    t.throws(() => credentialWebSocket({ WebSocket, ...change } as never), { name: 'TypeError', code: 'WSG_INVALID_OPTION', message })
  }
})

t.test('the Node build extends ws', async (t) => {
  const Authed = nodeCredentialWebSocket({ getToken: () => 'tok', protocols: ['trpc'] })
  t.equal(Object.getPrototypeOf(Authed), WsWebSocket)
  // prepare() resolves relative to nothing on Node: an absolute URL is needed
  await t.rejects(Authed.prepare('/trpc'), { code: 'WSG_INVALID_OPTION' })
})

// Session 20's lead: connect() refused a server that selects the credential as its
// subprotocol, but the class frameworks construct their sockets with did not, so graphql-ws
// and tRPC read (and apps logged) the token in `socket.protocol`.
t.test('a server that selects the credential entry: protocol never shows it, and the socket is closed 4400 as it opens', async (t) => {
  const { WebSocket, sockets } = fakeWebSocket()
  const Authed = credentialWebSocket({ getToken: () => 'tok', WebSocket })
  const echoed = new Authed('wss://api.test/graphql', 'graphql-transport-ws')
  let frameworkOpened = 0
  echoed.onopen = () => { frameworkOpened++ }
  const socket = last(sockets)
  socket.readyState = 1
  socket.select('bearer.tok')
  socket.opened()
  t.equal(echoed.protocol, '', 'the entry is not what protocol reads')
  t.same(socket.closedWith, { code: 4400, reason: 'the server selected the credential as its subprotocol' })
  t.equal(frameworkOpened, 0, 'a browser\'s framework never hears of the open')

  const fine = new Authed('wss://api.test/graphql', 'graphql-transport-ws')
  fine.onopen = () => { frameworkOpened++ }
  last(sockets).accept()
  t.equal(fine.protocol, 'graphql-transport-ws', 'the framework\'s own protocol reads as selected')
  t.equal(last(sockets).closedWith, undefined)
  t.equal(frameworkOpened, 1)

  const Cookie = credentialWebSocket({ protocols: ['trpc'], WebSocket })
  const plain = new Cookie('wss://api.test/trpc')
  last(sockets).accept()
  t.equal(plain.protocol, 'trpc', 'without a credential entry nothing is hidden')
})

t.test('on Node (ws): a real server selecting the credential entry is closed 4400, and protocol reads empty', async (t) => {
  const { WebSocketServer } = await import('ws')
  let serverSaw: (close: { code: number, reason: string }) => void = () => {}
  const serverClose = new Promise<{ code: number, reason: string }>((resolve) => { serverSaw = resolve })
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (offered) => [...offered].find((p) => p.startsWith('bearer.')) ?? false })
  t.teardown(() => new Promise<void>((resolve) => { wss.close(() => { resolve() }) }))
  wss.on('connection', (ws) => { ws.on('close', (code, reason) => { serverSaw({ code, reason: String(reason) }) }) })
  await new Promise((resolve) => wss.once('listening', resolve))
  const { port } = wss.address() as { port: number }
  const Authed = nodeCredentialWebSocket({ getToken: () => 'secret-token', protocols: ['trpc'] })
  const socket = new Authed(`ws://127.0.0.1:${port}/trpc`)
  const seen: string[] = []
  socket.addEventListener('open', () => { seen.push(`open: ${socket.protocol}`) })
  const closed = await new Promise<{ code: number, reason: string }>((resolve) => { socket.addEventListener('close', (e) => { resolve({ code: e.code, reason: e.reason }) }) })
  t.same(seen, ['open: '], 'ws cannot stop the event: the framework sees the open, with no protocol')
  t.same(closed, { code: 4400, reason: 'the server selected the credential as its subprotocol' })
  t.same(await serverClose, { code: 4400, reason: 'the server selected the credential as its subprotocol' }, 'the server got the close')
  t.notOk(JSON.stringify(seen).includes('secret-token'))
})
