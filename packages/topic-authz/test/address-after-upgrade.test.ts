// A framework may add headers to the handshake request after the upgrade: mercurius copies a
// graphql-ws connection_init payload's `headers` into it, for every name the request did not
// carry. Behind trustProxy, `request.ip` read again at each decision then followed the
// client's X-Forwarded-For: its topic.denied audit lines carried the address it chose.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { ChannelName, channel, type TopicDecisionMessage } from '@wsguard/core'
import { topicAuthz } from '../src/index.js'
import { open } from './sockets.js'

function listen (t: Test): TopicDecisionMessage[] {
  const seen: TopicDecisionMessage[] = []
  const listener = (m: unknown): void => { seen.push(m as TopicDecisionMessage) }
  channel(ChannelName.topicDecision).subscribe(listener)
  t.teardown(() => channel(ChannelName.topicDecision).unsubscribe(listener))
  return seen
}

t.test('a decision on a socket carries the address of its handshake, not a header added after the upgrade', async (t) => {
  const decisions = listen(t)
  const app = Fastify({ trustProxy: true })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'status.>', actions: ['subscribe'] }] })
  for (const url of ['/ws/plain', '/ws/topics']) {
    app.get(url, { websocket: true, config: url === '/ws/topics' ? { topics: [] } : {} }, (socket, req) => {
      socket.on('message', (raw) => {
        // What mercurius does with a connection_init payload's headers.
        req.headers['x-forwarded-for'] = '203.0.113.66'
        socket.send(JSON.stringify(req.authorizeTopic('subscribe', String(raw))))
      })
    })
  }
  app.get('/http', (req) => {
    req.headers['x-forwarded-for'] = '203.0.113.67'
    return req.authorizeTopic('subscribe', 'status.up')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  for (const url of ['/ws/plain', '/ws/topics']) {
    const c = await open(t, `${base}${url}`)
    if (!c.open) throw new Error('opens')
    c.ws.send('orders.x')
    await new Promise((resolve) => c.ws.once('message', resolve))
    t.match(decisions.at(-1), { topic: 'orders.x', allow: false, remoteAddress: '127.0.0.1' }, `${url}: the handshake's address`)
  }

  // A plain HTTP request has no upgrade: its address is read as it is.
  await app.inject('/http')
  t.match(decisions.at(-1), { allow: true, remoteAddress: '203.0.113.67' })
})

t.test('a socket opened while nobody listened is published without an address, never a later one', async (t) => {
  const app = Fastify({ trustProxy: true })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(topicAuthz, { policies: [{ pattern: 'status.>', actions: ['subscribe'] }] })
  app.get('/ws', { websocket: true }, (socket, req) => {
    socket.on('message', (raw) => {
      req.headers['x-forwarded-for'] = '203.0.113.66'
      socket.send(JSON.stringify(req.authorizeTopic('subscribe', String(raw))))
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const c = await open(t, `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`)
  if (!c.open) throw new Error('opens')
  const decisions = listen(t)
  c.ws.send('status.up')
  await new Promise((resolve) => c.ws.once('message', resolve))
  t.equal(decisions.length, 1)
  t.equal(decisions[0]?.allow, true)
  t.notOk('remoteAddress' in (decisions[0] as object), 'no address rather than the client\'s choice')
})
