import t from 'tap'
import Fastify, { type FastifyServerOptions } from 'fastify'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { captureLogs, claimsFor, generateKey, jwks, mintToken } from '@wsguard/testing'
import { authHandshake, requirePrincipal } from '../src/index.js'
import { rawUpgrade } from './helpers.js'

// find-my-way splits the query string off at the first '?' or '#' (and ';' with
// useSemicolonDelimiter), so `/feed#x&access_token=…` gives request.query.access_token.
// The redacting req serializer (core's redactQuery) only looks after a '?', so the
// "incoming request" line carries the whole token.

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const token = mintToken(key, claimsFor(ISS, AUD, 'alice'))
const signature = token.split('.')[2] as string

for (const [name, carriers, routerOptions, path] of [
  ['query carrier on, token after a #', ['header', 'query'], {}, `/feed#x&access_token=${token}`],
  ['query carrier off (default), token after a #', undefined, {}, `/feed#x&access_token=${token}`],
  ['useSemicolonDelimiter, token after a ;', ['header', 'query'], { useSemicolonDelimiter: true }, `/feed;access_token=${token}`]
] as const) {
  t.test(`a query token is never logged: ${name}`, async (t) => {
    const logs = captureLogs()
    const app = Fastify({ logger: { level: 'info', stream: logs.stream }, routerOptions: routerOptions as FastifyServerOptions['routerOptions'] })
    t.teardown(() => app.close())
    await app.register(websocket)
    await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) }, ...(carriers === undefined ? {} : { carriers: [...carriers] }) })
    app.get('/feed', { websocket: true }, (socket, req) => { socket.send(`hello ${requirePrincipal(req).id}`) })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const head = await rawUpgrade((app.server.address() as AddressInfo).port, path)
    t.match(head, /^HTTP\/1\.1 (101|400) /, 'the router read the token as a query parameter (opened, or refused as a disabled carrier)')
    t.equal(logs.lines.filter((l) => l.includes('incoming request')).length, 1, 'the request was logged')
    t.notOk(logs.text().includes(signature), 'no part of the token in any log line')
  })
}
