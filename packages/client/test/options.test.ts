// Options are checked once, in connect(): a bad one throws a TypeError naming it, and nothing starts.
import t from 'tap'
import { FakeClock, until } from '@wsguard/testing'
import { connect, credentialWebSocket, DEFAULT_MESSAGES, type ConnectOptions } from '../src/index.js'
import { connect as connectNode } from '../src/node.js'
import { systemClock } from '../src/options.js'
import { fakeWebSocket } from './helpers.js'

const { WebSocket, sockets } = fakeWebSocket()
const base: ConnectOptions = { url: 'wss://api.test/feed', protocols: ['feed.v1'], WebSocket, clock: new FakeClock() }

const bad: Array<[string, Record<string, unknown>, RegExp]> = [
  ['url missing', { url: undefined }, /opts\.url must be a ws: or wss: URL/],
  ['url not a URL', { url: 'http://[' }, /opts\.url must be a ws: or wss: URL/],
  ['url of another scheme', { url: 'ftp://api.test/feed' }, /opts\.url must be a ws: or wss: URL/],
  ['url relative, with no page', { url: '/feed' }, /opts\.url must be a ws: or wss: URL/],
  ['url a number', { url: 42 }, /opts\.url/],
  // The platform's errors would quote such a URL whole (fetch refuses it) into events and logs; ours never does.
  ['url with a user and password', { url: 'wss://feed:s3cret@api.test/feed' }, /^(?!.*s3cret)Invalid option: opts\.url must be a ws: or wss: URL, with no user or password$/],
  ['url with a user', { url: 'wss://feed@api.test/feed' }, /opts\.url must be a ws: or wss: URL, with no user or password/],
  ['ticketUrl with a user and password', { ticketUrl: 'https://feed:s3cret@api.test/t' }, /^(?!.*s3cret)Invalid option: opts\.ticketUrl must be a http: or https: URL, with no user or password$/],
  ['protocols not an array', { protocols: 'feed.v1' }, /opts\.protocols must be an array of subprotocol names/],
  ['protocols with a space', { protocols: ['feed v1'] }, /opts\.protocols/],
  ['protocols empty beside a token', { protocols: [], getToken: () => 'x' }, /opts\.protocols must name at least one subprotocol/],
  ['protocols empty beside a ticket', { protocols: undefined, ticketUrl: 'https://api.test/t' }, /opts\.protocols must name at least one/],
  ['getToken not a function', { getToken: 'token' }, /opts\.getToken must be a function/],
  ['ticketUrl of another scheme', { ticketUrl: 'ws://api.test/t' }, /opts\.ticketUrl must be a http: or https: URL/],
  // A bearer token (or the ticket it buys) in clear is anyone's on the path.
  ['url ws: to another machine, with a credential', { url: 'ws://api.test/feed' }, /^Invalid option: opts\.url would carry the credential in clear: use wss:\/https: \(or allowInsecure\)$/],
  ['url http: (read as ws:) to another machine', { url: 'http://api.test/feed' }, /opts\.url would carry the credential in clear/],
  ['url to a name that starts like loopback', { url: 'ws://127.0.0.1.api.test/feed' }, /opts\.url would carry the credential in clear/],
  ['url to a name that ends like loopback', { url: 'ws://localhost.api.test/feed' }, /opts\.url would carry the credential in clear/],
  // Node resolves *.localhost through DNS (helper-65's review): not this machine for certain.
  ['url to a *.localhost name', { url: 'ws://api.localhost/feed' }, /opts\.url would carry the credential in clear/],
  ['ticketUrl http: to another machine', { ticketUrl: 'http://api.test/t' }, /opts\.ticketUrl would carry the credential in clear/],
  ['allowInsecure not a boolean', { url: 'ws://api.test/feed', allowInsecure: 'yes' }, /opts\.allowInsecure must be a boolean/],
  ['topics with an empty one', { topics: ['a', ''] }, /opts\.topics must be an array of non-empty strings/],
  ['subscribeMessage', { subscribeMessage: 'SUB' }, /opts\.subscribeMessage must be a function/],
  ['unsubscribeMessage', { unsubscribeMessage: 1 }, /opts\.unsubscribeMessage must be a function/],
  ['onEvent', { onEvent: {} }, /opts\.onEvent must be a function/],
  ['onMessage', { onMessage: true }, /opts\.onMessage must be a function/],
  ['baseDelayMs negative', { baseDelayMs: -1 }, /opts\.baseDelayMs must be a number of ms, 0 to 2\^31-1/],
  ['credentialTimeoutMs past what a timer waits (it would fire after 1 ms)', { credentialTimeoutMs: 2 ** 31 }, /opts\.credentialTimeoutMs must be a number of ms, 0 to 2\^31-1/],
  ['maxDelayMs infinite', { maxDelayMs: Infinity }, /opts\.maxDelayMs must be a number of ms, 0 to 2\^31-1/],
  ['maxDelayMs under baseDelayMs', { baseDelayMs: 5_000, maxDelayMs: 1_000 }, /opts\.maxDelayMs must be at least opts\.baseDelayMs/],
  ['promptJitterMs a string', { promptJitterMs: '1000' }, /opts\.promptJitterMs/],
  ['rateLimitedDelayMs NaN', { rateLimitedDelayMs: NaN }, /opts\.rateLimitedDelayMs/],
  ['stableAfterMs', { stableAfterMs: null }, /opts\.stableAfterMs/],
  ['credentialTimeoutMs', { credentialTimeoutMs: -1 }, /opts\.credentialTimeoutMs/],
  ['subprotocolPrefix with a comma', { subprotocolPrefix: 'bearer,' }, /opts\.subprotocolPrefix must be a subprotocol prefix/],
  ['messages not an object', { messages: 'auth' }, /opts\.messages must be an object/],
  ['a message name empty', { messages: { refresh: '' } }, /opts\.messages\.refresh must be a non-empty string/],
  ['WebSocket not a class', { WebSocket: {} }, /opts\.WebSocket must be a WebSocket class/],
  ['fetch', { fetch: 'fetch' }, /opts\.fetch must be a function/],
  ['clock without timers', { clock: { now: () => 0 } }, /opts\.clock must be an object with now\(\), setTimer\(\) and clearTimer\(\)/],
  ['clock null', { clock: null }, /opts\.clock/],
  ['random', { random: 0.5 }, /opts\.random must be a function/]
]

for (const [what, change, message] of bad) {
  t.test(`${what}: a TypeError naming the option`, async (t) => {
    let asked = false
    const options = { ...base, getToken: () => { asked = true; return 'tok' }, ...change } as unknown as ConnectOptions
    const before = sockets.length
    t.throws(() => connect(options), { name: 'TypeError', code: 'WSG_INVALID_OPTION', message })
    // connect() threw synchronously, so no client exists to dial later: one turn is there only to let a stray microtask show itself.
    await new Promise((resolve) => setImmediate(resolve))
    t.equal(sockets.length, before, 'no socket')
    t.equal(asked, false, 'no token asked for')
  })
}

t.test('options that are not an object', async (t) => {
  t.throws(() => connect(null as unknown as ConnectOptions), { code: 'WSG_INVALID_OPTION', message: /opts must be an object/ })
  t.throws(() => credentialWebSocket(undefined as unknown as Parameters<typeof credentialWebSocket>[0]), { code: 'WSG_INVALID_OPTION' })
})

t.test('the options are copied: changing them later changes nothing', async (t) => {
  const protocols = ['feed.v1']
  const topics = ['a']
  const messages = { refresh: 'x.refresh' }
  const client = connect({ ...base, protocols, topics, messages })
  t.teardown(() => { client.close() })
  protocols.push('other')
  topics.push('b')
  messages.refresh = 'y'
  t.same(client.topics, ['a'])
  t.same(DEFAULT_MESSAGES.refresh, 'auth.refresh')
})

t.test('without a global WebSocket (Node 20), the browser build asks for one', async (t) => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket')
  // Node 20 has none; a later Node has one: take it away for this test
  Reflect.deleteProperty(globalThis, 'WebSocket')
  t.teardown(() => { if (saved !== undefined) Object.defineProperty(globalThis, 'WebSocket', saved) })
  t.throws(() => connect({ url: 'ws://api.test/feed' }), { code: 'WSG_INVALID_OPTION', message: /opts\.WebSocket is required with no global WebSocket/ })
  t.throws(() => credentialWebSocket({}), { code: 'WSG_INVALID_OPTION', message: /opts\.WebSocket is required with no global WebSocket/ })
})

t.test('the browser build takes the global WebSocket', async (t) => {
  const { WebSocket: Global, sockets: made } = fakeWebSocket()
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket')
  Object.defineProperty(globalThis, 'WebSocket', { value: Global, configurable: true, writable: true })
  t.teardown(() => {
    if (saved === undefined) Reflect.deleteProperty(globalThis, 'WebSocket')
    else Object.defineProperty(globalThis, 'WebSocket', saved)
  })
  const client = connect({ url: 'ws://api.test/feed', clock: new FakeClock() })
  t.teardown(() => { client.close() })
  await until(() => made.length >= 1, 'the socket made')
  t.equal(made.length, 1)
  t.same(made[0]?.protocols, [], 'no credential: no entry, and no protocol needed')
})

t.test('a relative or http(s): url is resolved against the page, as browsers do', async (t) => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'location')
  Object.defineProperty(globalThis, 'location', { value: { href: 'https://app.test/orders/list' }, configurable: true })
  t.teardown(() => {
    if (saved === undefined) Reflect.deleteProperty(globalThis, 'location')
    else Object.defineProperty(globalThis, 'location', saved)
  })
  const { WebSocket: Made, sockets: made } = fakeWebSocket()
  for (const url of ['/feed?x=1', 'https://app.test/feed?x=1', new URL('wss://app.test/feed?x=1'), 'http://plain.test/feed']) {
    const client = connect({ url, protocols: ['p'], WebSocket: Made, clock: new FakeClock() })
    t.teardown(() => { client.close() })
  }
  await until(() => made.length >= 4, 'the four sockets made')
  t.same(made.map((s) => s.url), ['wss://app.test/feed?x=1', 'wss://app.test/feed?x=1', 'wss://app.test/feed?x=1', 'ws://plain.test/feed'])
})

t.test('the Node build defaults to ws', async (t) => {
  // a port nothing listens on: ws reports the refusal through its error and close events
  const events: string[] = []
  let retrying: () => void = () => {}
  const done = new Promise<void>((resolve) => { retrying = resolve })
  const client = connectNode({
    url: 'ws://127.0.0.1:1/feed',
    clock: new FakeClock(),
    onEvent: (e) => { events.push(e.type); if (e.type === 'retrying') retrying() }
  })
  t.teardown(() => { client.close() })
  await done
  t.same(events, ['connecting', 'closed', 'retrying'])
})

t.test('the default clock: Date.now and real timers', async (t) => {
  const before = Date.now()
  t.ok(systemClock.now() >= before)
  const fired: string[] = []
  const cancelled = systemClock.setTimer(() => fired.push('cancelled'), 1)
  systemClock.clearTimer(cancelled)
  // a later timer: by the time it fires, the cancelled one would have
  await new Promise<void>((resolve) => { systemClock.setTimer(() => { fired.push('later'); resolve() }, 2) })
  t.same(fired, ['later'])
})

t.test('plain ws: and http: carry a credential to this machine, or anywhere with allowInsecure', async (t) => {
  const { WebSocket: Made, sockets: made } = fakeWebSocket()
  const loopback = ['ws://localhost:8080/feed', 'ws://LOCALHOST/feed', 'ws://127.0.0.1/feed', 'ws://127.9.8.7/feed', 'ws://[::1]:8080/feed', 'http://127.1/feed']
  for (const url of loopback) {
    const client = connect({ url, protocols: ['p'], getToken: () => 'tok', ticketUrl: 'http://localhost/t', WebSocket: Made, fetch: async () => Response.json({ ticket: 'tk' }), clock: new FakeClock() })
    t.teardown(() => { client.close() })
  }
  const insecure = connect({ url: 'ws://api.test/feed', ticketUrl: 'http://api.test/t', allowInsecure: true, protocols: ['p'], getToken: () => 'tok', WebSocket: Made, fetch: async () => Response.json({ ticket: 'tk' }), clock: new FakeClock() })
  t.teardown(() => { insecure.close() })
  const plain = connect({ url: 'ws://api.test/feed', protocols: ['p'], WebSocket: Made, clock: new FakeClock() })
  t.teardown(() => { plain.close() })
  // The one without a credential opens at once; the others once their ticket is fetched.
  await until(() => made.length >= loopback.length + 2, 'every socket made')
  t.same(made.map((s) => s.url).sort(), ['ws://localhost:8080/feed', 'ws://localhost/feed', 'ws://127.0.0.1/feed', 'ws://127.9.8.7/feed', 'ws://[::1]:8080/feed', 'ws://127.0.0.1/feed', 'ws://api.test/feed', 'ws://api.test/feed'].sort(), 'every one opened')
  t.same(made.filter((s) => s.protocols.length === 1).map((s) => [s.url, s.protocols]), [['ws://api.test/feed', ['p']]], 'without a credential, any ws: URL (a cookie is the browser\'s to send or not)')
})

t.test('credentialWebSocket(): a socket or prepare(url) to another machine over ws: is refused before any credential is asked for', async (t) => {
  const { WebSocket: Made, sockets: made } = fakeWebSocket()
  let asked = 0
  const Authed = credentialWebSocket({ getToken: () => { asked++; return 'tok' }, WebSocket: Made })
  t.throws(() => new Authed('ws://api.test/graphql'), { name: 'TypeError', code: 'WSG_INVALID_OPTION', message: /^Invalid option: url would carry the credential in clear/ })
  await t.rejects(Authed.prepare('http://api.test/graphql'), { code: 'WSG_INVALID_OPTION', message: /prepare\(url\): url would carry the credential in clear/ })
  t.equal(asked, 0, 'no token asked for')
  t.equal(made.length, 0, 'no socket')
  t.ok(new Authed('ws://localhost/graphql'), 'this machine')
  t.ok(new Authed('wss://api.test/graphql'))
  const Mesh = credentialWebSocket({ getToken: () => 'tok', allowInsecure: true, WebSocket: Made })
  t.ok(new Mesh('ws://api.test/graphql'), 'allowInsecure')
  const Cookie = credentialWebSocket({ WebSocket: Made })
  t.ok(new Cookie('ws://api.test/graphql'), 'no credential of ours')
  t.throws(() => credentialWebSocket({ ticketUrl: 'http://api.test/t', WebSocket: Made }), { code: 'WSG_INVALID_OPTION', message: /opts\.ticketUrl would carry the credential in clear/ })
  t.same(made.map((s) => s.url), ['ws://localhost/graphql', 'wss://api.test/graphql', 'ws://api.test/graphql', 'ws://api.test/graphql'])
})
