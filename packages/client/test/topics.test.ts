// Topics: subscribed on every connection, added and removed at run time, dropped when revoked.
import t from 'tap'
import { DEFAULT_STABLE_AFTER_MS } from '../src/index.js'
import { harness, lastDelay, type Harness } from './helpers.js'

const sub = (topic: string): string => JSON.stringify({ type: 'subscribe', topic })
const unsub = (topic: string): string => JSON.stringify({ type: 'unsubscribe', topic })

t.test('topics are subscribed when the socket opens, and again after a reconnect', async (t) => {
  const h = harness(t, { topics: ['prices.acme', 'news.acme', 'prices.acme'] })
  t.same(h.client.topics, ['prices.acme', 'news.acme'], 'once each')
  const first = await h.socket(1)
  t.same(first.sent, [], 'nothing before open')
  first.accept()
  t.same(first.sent, [sub('prices.acme'), sub('news.acme')])
  h.clock.advance(DEFAULT_STABLE_AFTER_MS)
  first.drop(1001, 'server shutting down')
  h.clock.advance(lastDelay(h))
  const second = await h.socket(2)
  second.accept()
  t.same(second.sent, [sub('prices.acme'), sub('news.acme')])
})

t.test('subscribe() and unsubscribe(): sent when open, remembered for the next connection', async (t) => {
  const h = harness(t)
  t.equal(h.client.send('early'), false, 'send() before open sends nothing')
  h.client.subscribe('a.b')
  const first = await h.socket(1)
  first.accept()
  t.same(first.sent, [sub('a.b')])
  h.client.subscribe('c.d')
  h.client.subscribe('c.d')
  h.client.unsubscribe('a.b')
  h.client.unsubscribe('never.subscribed')
  t.same(first.sent, [sub('a.b'), sub('c.d'), unsub('a.b')])
  t.equal(h.client.send('hello'), true)
  t.equal(first.sent.at(-1), 'hello')
  first.drop(1006)
  t.equal(h.client.send('while down'), false)
  h.clock.advance(lastDelay(h))
  const second = await h.socket(2)
  second.accept()
  t.same(second.sent, [sub('c.d')])
  t.same(h.client.topics, ['c.d'])
})

t.test('a topic subscribed from the connected event is sent once', async (t) => {
  const h: Harness = harness(t, {
    topics: ['x.y'],
    onEvent: (event) => { if (event.type === 'connected') h.client.subscribe('late.one') }
  })
  const first = await h.socket(1)
  first.accept()
  t.same(first.sent, [sub('x.y'), sub('late.one')])
})

t.test('topic.revoked: reported, and the topic is not subscribed again', async (t) => {
  const h = harness(t, { topics: ['orders.acme', 'orders.globex'] })
  const first = await h.socket(1)
  first.accept()
  first.receive({ type: 'topic.revoked', topic: 'orders.globex' })
  t.same(h.of('topic-revoked'), [{ type: 'topic-revoked', topic: 'orders.globex' }])
  t.same(h.client.topics, ['orders.acme'])
  first.drop(1006)
  h.clock.advance(lastDelay(h))
  const second = await h.socket(2)
  second.accept()
  t.same(second.sent, [sub('orders.acme')])
  t.same(h.messages, [])
})

t.test('topic.revoked naming an action: subscribe drops the topic, another action leaves it subscribed', async (t) => {
  const h = harness(t, { topics: ['orders.acme', 'orders.globex'] })
  const first = await h.socket(1)
  first.accept()
  first.receive({ type: 'topic.revoked', topic: 'orders.acme', action: 'publish' })
  first.receive({ type: 'topic.revoked', topic: 'orders.globex', action: 'subscribe' })
  t.same(h.of('topic-revoked'), [
    { type: 'topic-revoked', topic: 'orders.acme', action: 'publish' },
    { type: 'topic-revoked', topic: 'orders.globex', action: 'subscribe' }
  ])
  t.same(h.client.topics, ['orders.acme'], 'still subscribed to what only lost publish')
})

t.test('the app\'s own subscribe and unsubscribe frames', async (t) => {
  const h = harness(t, {
    topics: ['a'],
    subscribeMessage: (topic) => `SUB ${topic}`,
    unsubscribeMessage: (topic) => `UNSUB ${topic}`
  })
  const first = await h.socket(1)
  first.accept()
  h.client.unsubscribe('a')
  t.same(first.sent, ['SUB a', 'UNSUB a'])
})

t.test('a topic that is not a non-empty string is a TypeError', async (t) => {
  const h = harness(t)
  t.throws(() => { h.client.subscribe('') }, { name: 'TypeError', code: 'WSG_INVALID_OPTION', message: /subscribe\(topic\)/ })
  t.throws(() => { h.client.subscribe(7 as unknown as string) }, { code: 'WSG_INVALID_OPTION' })
  t.same(h.client.topics, [])
})
