// A ticket in the URL of a path no route matches (`/feed/?ticket=…` for `/feed`) is never
// consumed and still opens its path for its ttl; the plugin cannot reach Fastify's "incoming
// request" line or its default 404 for such a URL. The README's recipe (the serializer on the
// app's logger, naming the ticket parameter, and a not-found handler) keeps it out of both.
import t, { type Test } from 'tap'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket from 'ws'
import { captureLogs, claimsFor, generateKey, jwks, mintToken, type CapturedLogs } from '@wsguard/testing'
import { authHandshake, redactingReqSerializer, TICKET_QUERY_PARAMETER } from '../src/index.js'
import { askTicket, ticketOf } from './ticket-helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const ORIGIN = 'https://app.test'
const key = generateKey('ES256')

async function app (t: Test, recipe: boolean): Promise<{ url: string, logs: CapturedLogs }> {
  const logs = captureLogs()
  const fastify = Fastify({ logger: { level: 'info', stream: logs.stream, ...(recipe ? { serializers: { req: redactingReqSerializer(['access_token', TICKET_QUERY_PARAMETER]) } } : {}) } })
  t.teardown(() => fastify.close())
  await fastify.register(websocket)
  await fastify.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) }, carriers: ['header', 'ticket'], tickets: {} })
  if (recipe) fastify.setNotFoundHandler(async (_request, reply) => reply.code(404).send({ statusCode: 404, error: 'Not Found' }))
  fastify.get('/feed', { websocket: true }, (socket) => { socket.send('hello') })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  return { url: `ws://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`, logs }
}

/** The 404 body of an upgrade, or 'opened'. */
function upgrade (t: Test, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin: ORIGIN })
    t.teardown(() => ws.terminate())
    ws.on('message', () => { resolve('opened') })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve(`${String(res.statusCode)} ${body}`) })
    })
    ws.on('error', reject)
  })
}

for (const recipe of [false, true]) {
  t.test(recipe ? 'with the README\'s recipe, the ticket of a mistyped path is logged and answered nowhere' : 'without it, Fastify logs and echoes the URL, ticket included', async (t) => {
    const { url, logs } = await app(t, recipe)
    const token = mintToken(key, claimsFor(ISS, AUD, 'alice'))
    const ticket = ticketOf(await askTicket(url, { path: '/feed' }, { authorization: `Bearer ${token}`, origin: ORIGIN }))
    const answer = await upgrade(t, `${url}/feed/?ticket=${ticket}`)
    t.match(answer, /^404 /)
    t.equal(answer.includes(ticket), !recipe, 'the 404 body')
    t.equal(logs.text().includes(ticket), !recipe, 'the log lines')
    t.equal(await upgrade(t, `${url}/feed?ticket=${ticket}`), 'opened', 'the ticket was not used up: it still opens its path')
  })
}
