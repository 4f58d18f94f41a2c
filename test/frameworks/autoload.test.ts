// An autoloaded app (fastify-cli's layout: app.ts, plugins/, routes/) behind wsguard and
// @fastify/rate-limit: the recipe in docs/recipes/autoload.md, proved.
import t, { type Test } from 'tap'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { ChannelName, type HandshakeRejectedMessage } from '@wsguard/core'
import { connectSocket, FakeClock, type Refusal, type SocketClient } from '@wsguard/testing'
import { record, T0, token } from './helpers.js'
import app from './autoload-app/app.js'

// @fastify/autoload loads .ts files only when it knows a TypeScript loader runs; tap's does,
// under a name autoload does not look for.
process.env.FASTIFY_AUTOLOAD_TYPESCRIPT = '1'

async function start (t: Test, opts: { max?: number, rateLimitLast?: boolean, routesFirst?: boolean } = {}) {
  const clock = new FakeClock(T0)
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(app, { clock, max: opts.max ?? 100, ...opts })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/feed/`
  const connect = (tok?: string): Promise<SocketClient | Refusal> =>
    connectSocket(url, { ...(tok !== undefined ? { token: tok } : {}), teardown: (fn) => t.teardown(fn) })
  return { clock, connect }
}

t.test('plugins/ then routes/: the autoloaded route is governed', async (t) => {
  const { clock, connect } = await start(t)
  const c = await connect(token(clock, 'alice', 600))
  t.same('refused' in c ? c : await c.next(), { principal: 'alice' })
  t.match(await connect(), { refused: true, status: 401, body: { code: 'WSG_CREDENTIAL_MISSING' } })
})

t.test('routes/ autoloaded before plugins/: refused before the upgrade, never open', async (t) => {
  const { clock, connect } = await start(t, { routesFirst: true })
  // @fastify/websocket was not there yet either, so the route is a plain GET route: an
  // upgrade to it is refused 400 by the guard (a websocket route added before wsguard alone
  // would get 503, as each plugin's route-order test shows).
  t.match(await connect(token(clock, 'alice', 600)), { refused: true, status: 400, body: { code: 'WSG_BAD_REQUEST' } })
})

t.test('@fastify/rate-limit registered first throttles before any token work', async (t) => {
  const rejected = record<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const { connect } = await start(t, { max: 2 })
  const answers = []
  for (let i = 0; i < 4; i++) answers.push(await connect('not.a.token'))
  t.match(answers, [{ status: 401 }, { status: 401 }, { status: 429 }, { status: 429 }])
  t.equal(rejected.seen.length, 2, 'the throttled handshakes never reached auth-handshake')
})

t.test('registered after wsguard, the same limit throttles only after the token was checked', async (t) => {
  const rejected = record<HandshakeRejectedMessage>(t, ChannelName.handshakeRejected)
  const { connect } = await start(t, { max: 2, rateLimitLast: true })
  const answers = []
  for (let i = 0; i < 4; i++) answers.push(await connect('not.a.token'))
  t.match(answers, [{ status: 401 }, { status: 401 }, { status: 401 }, { status: 401 }], 'auth-handshake answers first every time')
  t.equal(rejected.seen.length, 4, 'every handshake cost token work')
})
