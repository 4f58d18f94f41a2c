// The API from Node: the feed's frames and topic decisions, a refresh that narrows the
// grants, the admin's view of sessions, and the reconnect storm that telemetry flags.
import t from 'tap'
import WebSocket from 'ws'
import { userById } from '../src/users.js'
import { accessToken, demo, openFeed, postJson, signIn } from './helpers.js'

const d = await demo(t, { pricesIntervalMs: 20 })

/** `promise`, or a failure naming `what` after 15 s (rather than tap's timeout). */
async function within<T> (promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no ${what} within 15 s`)) }, 15_000) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

t.test('the feed: hello, own prices, other tenants\' denied with their reason, and what it does with odd frames', async (t) => {
  const jar = await signIn(d, 'alice')
  const feed = await openFeed(t, d, '/ws/prices/acme', await accessToken(jar, d))
  t.match(await feed.next((f) => f.type === 'hello'), { subject: 'alice', tenant: 'acme', socket: String, expiresAt: Number })
  const send = (frame: unknown): void => { feed.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)) }
  send({ type: 'subscribe', topic: 'prices.acme.widget' })
  t.match(await feed.next((f) => f.type === 'subscribed'), { topic: 'prices.acme.widget', rule: 'prices.{tenant}.>' })
  t.match(await feed.next((f) => f.type === 'price'), { topic: 'prices.acme.widget', price: Number })
  send({ type: 'subscribe', topic: 'prices.acme.widget' })
  send({ type: 'subscribe', topic: 'prices.globex.gizmo' })
  t.same(await feed.next((f) => f.type === 'denied'), { type: 'denied', topic: 'prices.globex.gizmo', reason: 'claim-mismatch' })
  send('not json')
  send('null')
  send({ type: 'publish', topic: 'prices.acme.widget' })
  const errors = await new Promise<number>((resolve) => {
    const count = (): number => feed.frames.filter((f) => f.type === 'error').length
    feed.ws.on('message', () => { if (count() === 3) resolve(3) })
  })
  t.equal(errors, 3, 'three frames it does not know, three errors')
  t.equal(feed.frames.filter((f) => f.type === 'subscribed').length, 2, 'subscribing twice is answered twice, held once')
  send({ type: 'subscribe', topic: 'prices.acme.all' })
  t.match(await feed.next((f) => f.type === 'subscribed' && f.topic === 'prices.acme.all'), { rule: 'prices.{tenant}.>' }, 'allowed, though no prices flow there')
  send({ type: 'unsubscribe', topic: 'prices.acme.widget' })
  send({ type: 'unsubscribe', topic: 'prices.acme.never' })
  // After the unsubscribe, no more widget prices: a frame sent now comes back after any in flight.
  send({ type: 'subscribe', topic: 'prices.globex.sprocket' })
  await feed.next((f) => f.type === 'denied' && f.topic === 'prices.globex.sprocket')
  const before = feed.frames.length
  send({ type: 'subscribe', topic: 'prices.globex.gizmo' })
  await feed.next((f) => feed.frames.indexOf(f) >= before && f.type === 'denied')
  t.notOk(feed.frames.slice(before).some((f) => f.type === 'price'), 'unsubscribed: no price since')
})

t.test('the admin\'s view lists open sockets; another tenant\'s feed is refused at the handshake', async (t) => {
  const bob = await signIn(d, 'bob')
  const token = await accessToken(bob, d)
  await openFeed(t, d, '/ws/prices/globex', token)
  const admin = await signIn(d, 'admin')
  const sessions = await (await admin.fetch(`${d.url}admin/sessions`)).json() as Array<Record<string, unknown>>
  t.match(sessions.find((s) => s.subject === 'bob'), { tenant: 'globex', route: '/ws/prices/:tenant', socket: String, expiresAt: Number })
  await t.rejects(openFeed(t, d, '/ws/prices/acme', token), { message: /Unexpected server response: 403/ }, 'no Origin: the HTTP answer')
})

t.test('an admin demoted while subscribed to another tenant: the next refresh drops that topic', async (t) => {
  const admin = userById('admin') as NonNullable<ReturnType<typeof userById>>
  t.teardown(() => { admin.roles = ['admin'] })
  const jar = await signIn(d, 'admin')
  const feed = await openFeed(t, d, '/ws/prices/acme', await accessToken(jar, d))
  feed.ws.send(JSON.stringify({ type: 'subscribe', topic: 'prices.globex.gizmo' }))
  t.match(await feed.next((f) => f.type === 'subscribed'), { topic: 'prices.globex.gizmo', rule: 'prices.>' }, 'an admin may see any tenant')
  await feed.next((f) => f.type === 'price' && f.topic === 'prices.globex.gizmo')
  admin.roles = []
  // The provider reads the roles at each issue: the refreshed token has none.
  // The refreshed token must expire later than the first: its iat (whole seconds) must be later.
  // Prices tick every 20 ms: wait for one in the next second.
  const second = Math.floor(Date.now() / 1000)
  await feed.next((f) => f.type === 'price' && Math.floor(Number(f.at) / 1000) > second)
  feed.ws.send(JSON.stringify({ type: 'auth.refresh', token: await accessToken(jar, d, 'refresh') }))
  t.same(await feed.next((f) => f.type === 'topic.revoked'), { type: 'topic.revoked', topic: 'prices.globex.gizmo', action: 'subscribe' })
  t.match(await feed.next((f) => f.type === 'auth.refreshed'), { expiresAt: Number })
  const seen = feed.frames.length
  feed.ws.send(JSON.stringify({ type: 'subscribe', topic: 'prices.globex.sprocket' }))
  t.match(await feed.next((f) => f.type === 'denied'), { reason: 'claim-mismatch' })
  t.notOk(feed.frames.slice(seen).some((f) => f.topic === 'prices.globex.gizmo'), 'no gizmo price since')
})

t.test('a reconnect storm: every handshake accepted, and telemetry raises the anomaly', async (t) => {
  const result = await d.storm()
  t.same(result, { attempted: 40, opened: 40, refused: {}, failed: 0 })
  const metrics = await (await fetch(`${d.url}metrics`)).text()
  t.match(metrics, /^wsguard_anomalies_total\{kind="reconnect-storm"\} 1$/m)
  const page = await fetch(`${d.url}dashboard`)
  t.equal(page.status, 200, 'the dashboard is served')
  const storm = await fetch(`${d.url}dashboard/storm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(storm.status, 200, 'and its button starts a storm')
})

t.test('revoked from the admin page: the socket closes 4403 at once', async (t) => {
  const jar = await signIn(d, 'bob')
  const feed = await openFeed(t, d, '/ws/prices/globex', await accessToken(jar, d))
  const closed = new Promise<[number, string]>((resolve) => feed.ws.on('close', (code, reason) => { resolve([code, String(reason)]) }))
  const admin = await signIn(d, 'admin')
  t.same(await (await postJson(admin, d, '/admin/revoke', { subject: 'bob' })).json(), { closed: 1 })
  t.same(await closed, [4403, 'access revoked'])
})

t.test('signing out closes the sockets of the tokens the page was given, and refuses those tokens after; another browser of the user stays', async (t) => {
  const here = await signIn(d, 'alice')
  const elsewhere = await signIn(d, 'alice')
  const token = await accessToken(here, d)
  const feed = await openFeed(t, d, '/ws/prices/acme', token)
  const other = await openFeed(t, d, '/ws/prices/acme', await accessToken(elsewhere, d))
  const closed = new Promise<[number, string]>((resolve) => feed.ws.on('close', (code, reason) => { resolve([code, String(reason)]) }))
  t.equal((await here.fetch(`${d.url}logout`, { method: 'POST', headers: { origin: new URL(d.url).origin } })).status, 303)
  t.same(await within(closed, 'close'), [4403, 'access revoked'], 'the socket of this browser closes at once')
  const ticket = await fetch(`${d.url}ws-ticket`, { method: 'POST', headers: { 'content-type': 'application/json', origin: new URL(d.url).origin, authorization: `Bearer ${token}` }, body: '{"path":"/ws/prices/acme"}' })
  const again = new WebSocket(`${d.url.replace('http', 'ws')}ws/prices/acme`, ['prices.v1'], { headers: { authorization: `Bearer ${token}` } })
  const refused = await within(new Promise<number>((resolve) => { again.on('unexpected-response', (_req, res) => { resolve(res.statusCode as number); again.terminate() }); again.on('error', () => {}) }), 'answer')
  t.equal(refused, 401, 'the signed-out token opens nothing more')
  t.equal(ticket.status, 200, '(a ticket is still issued for it: the endpoint does not check revocations)')
  other.ws.send(JSON.stringify({ type: 'subscribe', topic: 'prices.acme.widget' }))
  t.match(await within(other.next((f) => f.type === 'price'), 'price'), { topic: 'prices.acme.widget' }, 'the other browser\'s socket still gets prices')
  t.equal(other.ws.readyState, WebSocket.OPEN)
})

t.test('a page gets at most 16 live tokens from its session', async (t) => {
  const jar = await signIn(d, 'bob')
  const statuses: number[] = []
  for (let i = 0; i < 17; i++) statuses.push((await postJson(jar, d, '/session/token', { reason: 'refresh' })).status)
  t.same(statuses, [...Array<number>(16).fill(200), 429])
})

t.test('stopping the demo closes every socket 1001, then the server and the provider', async (t) => {
  const { startDemo } = await import('../src/server.js')
  const other = await startDemo({ port: 0 })
  const jar = await signIn(other, 'alice')
  const feed = await openFeed(t, other, '/ws/prices/acme', await accessToken(jar, other))
  const closed = new Promise<[number, string]>((resolve) => feed.ws.on('close', (code, reason) => { resolve([code, String(reason)]) }))
  await other.close()
  t.same(await closed, [1001, 'server shutting down'])
  await t.rejects(fetch(other.url), 'the app is closed')
  await t.rejects(fetch(`${other.issuer}/.well-known/openid-configuration`), 'the provider is closed')
})
