import t, { type Test } from 'tap'
import http from 'node:http'
import { generateKey, jwks, mintToken, claimsFor } from '@wsguard/testing'
import type { AuthHandshakeOptions } from '../src/index.js'
import { buildApp, connect } from './helpers.js'

const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const issuer = { issuer: ISS, audience: AUD, algorithms: ['ES256' as const], jwks: jwks(key) }
const token = mintToken(key, { ...claimsFor(ISS, AUD, 'alice'), scope: 'feed:read' })
const ORIGIN = 'https://app.test'

async function app (t: Test, extra: Partial<AuthHandshakeOptions> = {}) {
  return await buildApp(t, { jwt: issuer, ...extra })
}

const idOf = (res: Awaited<ReturnType<typeof connect>>): unknown => res.open ? (res.message.principal as { id: string }).id : res.status

t.test('Authorization header: the scheme is case-insensitive', async (t) => {
  const { url } = await app(t)
  for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
    t.equal(idOf(await connect(t, url, { headers: { authorization: `${scheme} ${token}` } })), 'alice', scheme)
  }
})

t.test('another scheme is no bearer credential: 401 with a bare challenge', async (t) => {
  const { url } = await app(t)
  for (const headers of [{ authorization: 'Basic YWxpY2U6cHc=' }, {}] as Array<Record<string, string>>) {
    const res = await connect(t, url, { headers })
    t.equal(res.open, false)
    if (!res.open) {
      t.equal(res.status, 401)
      t.equal(JSON.parse(res.body).code, 'WSG_CREDENTIAL_MISSING')
      t.equal(res.headers['www-authenticate'], 'Bearer realm="wsguard"')
    }
  }
})

t.test('two Authorization headers are ambiguous whatever their schemes; a bearer header we cannot read is malformed', async (t) => {
  const { url } = await app(t, { carriers: ['cookie', 'header'], allowedOrigins: [ORIGIN] })
  const bob = mintToken(key, { ...claimsFor(ISS, AUD, 'bob'), scope: 'feed:read' })
  const cases: Array<[string, Record<string, string | string[]>, string]> = [
    // Node keeps the first header; a proxy reading the last would see bob.
    ['a Basic header hiding a Bearer one, beside a cookie', { authorization: ['Basic YWxpY2U6cHc=', `Bearer ${bob}`], cookie: `access_token=${token}` }, 'WSG_AMBIGUOUS_CREDENTIAL'],
    ['two Basic headers', { authorization: ['Basic YQ==', 'Basic Yg=='] }, 'WSG_AMBIGUOUS_CREDENTIAL'],
    ['Bearer and a tab, beside a cookie', { authorization: `Bearer\t${bob}`, cookie: `access_token=${token}` }, 'WSG_BAD_REQUEST'],
    ['Bearer twice', { authorization: `Bearer Bearer ${bob}` }, 'WSG_BAD_REQUEST'],
    ['Bearer alone', { authorization: 'Bearer' }, 'WSG_BAD_REQUEST']
  ]
  for (const [name, headers, code] of cases) {
    const res = await connect(t, url, { origin: ORIGIN, headers })
    t.same(res.open ? 'opened' : [res.status, JSON.parse(res.body).code], [400, code], name)
  }
  t.equal(idOf(await connect(t, url, { origin: ORIGIN, headers: { authorization: 'Basic YWxpY2U6cHc=', cookie: `access_token=${token}` } })), 'alice', 'one header of another scheme is no credential: the cookie is')
})

t.test('subprotocol: the app\'s protocol is selected and the token never echoed', async (t) => {
  const { url } = await app(t)
  const res = await connect(t, url, { protocols: ['app.v1', `bearer.${token}`] })
  t.equal(res.open, true)
  if (res.open) {
    t.equal(res.protocol, 'app.v1', 'client sees the app protocol')
    t.equal(res.message.protocol, 'app.v1', 'server socket sees the app protocol')
    t.equal(res.responseHeaders['sec-websocket-protocol'], 'app.v1')
    t.notOk(JSON.stringify(res.responseHeaders).includes(token))
  }
})

t.test('subprotocol: a lone bearer entry gets no protocol back (never the token)', async (t) => {
  const { url } = await app(t)
  const headers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
    const req = http.request(url.replace('ws:', 'http:') + '/feed', {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-protocol': `Bearer.${token}`
      }
    })
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.headers) })
    req.on('response', (res) => reject(new Error(`status ${res.statusCode}`)))
    req.on('error', reject)
    req.end()
  })
  t.equal(headers['sec-websocket-protocol'], undefined)
  t.notOk(JSON.stringify(headers).includes(token))
})

t.test('a credential in a carrier the app did not enable is refused, not ignored', async (t) => {
  const headerOnly = await app(t, { carriers: ['header'] })
  const viaProtocol = await connect(t, headerOnly.url, { protocols: ['app.v1', `bearer.${token}`] })
  t.equal(!viaProtocol.open && JSON.parse(viaProtocol.body).code, 'WSG_BAD_REQUEST')
  const protocolOnly = await app(t, { carriers: ['subprotocol'] })
  const viaHeader = await connect(t, protocolOnly.url, { headers: { authorization: `Bearer ${token}` } })
  t.equal(!viaHeader.open && viaHeader.status, 400)
  t.equal(!viaHeader.open && JSON.parse(viaHeader.body).code, 'WSG_BAD_REQUEST')
})

t.test('cookie carrier (with allowedOrigins)', async (t) => {
  const { url } = await app(t, { carriers: ['cookie'], allowedOrigins: [ORIGIN], cookieName: 'ws_at' })
  t.equal(idOf(await connect(t, url, { origin: ORIGIN, headers: { cookie: `theme=dark; ws_at=${token}` } })), 'alice')
  t.equal(idOf(await connect(t, url, { origin: ORIGIN, headers: { cookie: `ws_at="${token}"` } })), 'alice', 'quoted value')
  t.equal(idOf(await connect(t, url, { headers: { cookie: `ws_at=${token}` } })), 'alice', 'a non-browser client without Origin')
  t.equal(idOf(await connect(t, url, { origin: 'https://evil.test', headers: { cookie: `ws_at=${token}` } })), 403, 'cross-site: refused')
  const twice = await connect(t, url, { origin: ORIGIN, headers: { cookie: `ws_at=${token}; ws_at=${token}` } })
  t.equal(!twice.open && JSON.parse(twice.body).code, 'WSG_AMBIGUOUS_CREDENTIAL')
  t.equal(idOf(await connect(t, url, { origin: ORIGIN, headers: { cookie: 'ws_at=; other' } })), 401, 'empty cookie is no credential')
  t.equal(idOf(await connect(t, url, { origin: ORIGIN, headers: { cookie: `access_token=${token}` } })), 401, 'another cookie name is no credential')
})

t.test('cookie and header together are ambiguous', async (t) => {
  const { url } = await app(t, { carriers: ['cookie', 'header'], allowedOrigins: [ORIGIN] })
  const res = await connect(t, url, { origin: ORIGIN, headers: { cookie: `access_token=${token}`, authorization: `Bearer ${token}` } })
  t.equal(!res.open && JSON.parse(res.body).code, 'WSG_AMBIGUOUS_CREDENTIAL')
})

t.test('query carrier (opt-in): accepted, redacted from logs, twice is ambiguous', async (t) => {
  const { url, logs } = await app(t, { carriers: ['query', 'header'], queryParameter: 'at' })
  t.equal(idOf(await connect(t, url, { path: `/feed?at=${token}` })), 'alice')
  const twice = await connect(t, url, { path: `/feed?at=${token}&at=${token}` })
  t.equal(!twice.open && JSON.parse(twice.body).code, 'WSG_AMBIGUOUS_CREDENTIAL')
  const both = await connect(t, url, { path: `/feed?at=${token}`, headers: { authorization: `Bearer ${token}` } })
  t.equal(!both.open && JSON.parse(both.body).code, 'WSG_AMBIGUOUS_CREDENTIAL')
  t.notOk(logs.text().includes(token), 'no log line holds the token')
  t.match(logs.text(), /"url":"\/feed\?at=\[REDACTED\]"/)
})

t.test('a URL no route matches: with the README\'s app-level setup, its query token stays out of the log and the answer', async (t) => {
  const { default: Fastify } = await import('fastify')
  const { default: websocket } = await import('@fastify/websocket')
  const { captureLogs } = await import('@wsguard/testing')
  const { authHandshake, redactingReqSerializer } = await import('../src/index.js')
  const logs = captureLogs()
  const server = Fastify({ logger: { level: 'info', stream: logs.stream, serializers: { req: redactingReqSerializer(['at']) } } })
  t.teardown(() => server.close())
  await server.register(websocket)
  await server.register(authHandshake, { jwt: issuer, carriers: ['query'], queryParameter: 'at' })
  server.get('/feed', { websocket: true }, (socket) => { socket.send('{}') })
  // Fastify's default 404 repeats the URL in its message and body; the README says to set one that does not.
  server.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ statusCode: 404, error: 'Not Found' }))
  const res = await server.inject(`/fede?at=${token}&x=1`)
  t.equal(res.statusCode, 404, 'a mistyped path')
  t.notOk(res.body.includes(token), 'the answer does not repeat it')
  t.notOk(logs.text().includes(token), 'no log line holds the token')
  t.match(logs.text(), /"url":"\/fede\?at=\[REDACTED\]&x=1"/)
})

t.test('Origin rules', async (t) => {
  const { url } = await app(t, { allowedOrigins: [ORIGIN], requireOrigin: true })
  const auth = { headers: { authorization: `Bearer ${token}` } }
  t.equal(idOf(await connect(t, url, { ...auth, origin: ORIGIN })), 'alice')
  const missing = await connect(t, url, auth)
  t.equal(!missing.open && JSON.parse(missing.body).code, 'WSG_ORIGIN_DENIED', 'requireOrigin refuses a missing Origin')
  t.equal(idOf(await connect(t, url, { ...auth, origin: 'null' })), 403, 'the opaque origin "null" is refused')
  const open = await app(t, {})
  t.equal(idOf(await connect(t, open.url, { ...auth, origin: 'https://anything.test' })), 'alice', 'no allowlist: any origin')
})
