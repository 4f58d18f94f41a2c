import t, { type Test } from 'tap'
import http from 'node:http'
import { generateKey, jwks, mintToken, claimsFor } from '@wsguard/testing'
import { ChannelName, channel } from '@wsguard/core'
import { buildApp, connect } from './helpers.js'

// A plain GET or a HEAD of a websocket route can never open a socket, so it must cost no
// token work: a storm gate that counts only upgrades would otherwise let any client buy a
// signature verification per request.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const N = 25

async function counted (t: Test) {
  let verified = 0
  const rejected: unknown[] = []
  const onRejected = (m: unknown): void => { rejected.push(m) }
  channel(ChannelName.handshakeRejected).subscribe(onRejected)
  t.teardown(() => channel(ChannelName.handshakeRejected).unsubscribe(onRejected))
  const built = await buildApp(t, {
    // kind() runs once per signature verified (with the verified-token cache off).
    jwt: {
      issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key), kind: () => { verified++; return 'user' }
    },
    verifiedTokenCacheSize: 0
  }, {
    routes: (app) => {
      app.route({
        method: 'GET',
        url: '/both',
        handler: async (req) => ({ http: true, principal: req.principal }),
        wsHandler: (socket, req) => { socket.send(JSON.stringify({ principal: req.principal })) }
      })
      app.route({ method: ['GET', 'HEAD'], url: '/listed', websocket: true, handler: (socket) => { socket.send('{}') } })
    }
  })
  return { ...built, verified: () => verified, rejected }
}

const token = mintToken(key, claimsFor(ISS, AUD, 'alice'))
const auth = { authorization: `Bearer ${token}` }
const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='

t.test('plain GETs and HEADs of a websocket route verify no token', async (t) => {
  const { app, url, verified, rejected } = await counted(t)
  for (let i = 0; i < N; i++) {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await app.inject({ method, url: '/feed', headers: auth })
      t.equal(res.statusCode, 404, `${method} ${i}: @fastify/websocket's answer to a request that is no upgrade`)
    }
    const garbage = await app.inject({ url: '/feed', headers: { authorization: 'Bearer a.b.c' } })
    t.equal(garbage.statusCode, 404, `GET ${i} with a garbage token: not even parsed`)
  }
  t.equal(verified(), 0, `${3 * N} plain requests, no signature verified`)
  t.equal(rejected.length, 0, 'and none counted as a refused handshake')
  t.equal((await connect(t, url, { headers: auth })).open, true, 'an upgrade is verified')
  t.equal(verified(), 1, 'the count sees a verification')
})

t.test('a HEAD with an Upgrade header is no handshake: 404, no token work, no ungoverned-route alarm', async (t) => {
  const { url, logs, verified } = await counted(t)
  const port = new URL(url).port
  const head = (path: string): Promise<number> => new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'HEAD',
      path,
      agent: false, // the server destroys the socket after answering: never reuse it
      headers: { ...auth, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': KEY }
    })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode as number) })
    req.on('upgrade', () => reject(new Error('upgraded')))
    req.on('error', reject)
    req.end()
  })
  for (const path of ['/feed', '/both', '/listed']) {
    t.equal(await head(path), 404, `HEAD ${path}`)
  }
  t.equal(verified(), 0, 'no signature verified')
  t.notOk(logs.text().includes('was added before the plugin'), 'not mistaken for a route added before the plugin')
})

t.test('the plain-HTTP side of a { handler, wsHandler } route is the app\'s: no principal there', async (t) => {
  const { app, url, verified } = await counted(t)
  const plain = await app.inject({ url: '/both', headers: auth })
  t.equal(plain.statusCode, 200)
  t.same(plain.json(), { http: true, principal: null })
  t.equal(verified(), 0)
  const ws = await connect(t, url, { path: '/both', headers: auth })
  t.equal(ws.open && (ws.message.principal as { id: string }).id, 'alice', 'its upgrades are authenticated')
  const refused = await connect(t, url, { path: '/both' })
  t.equal(!refused.open && refused.status, 401)
})
