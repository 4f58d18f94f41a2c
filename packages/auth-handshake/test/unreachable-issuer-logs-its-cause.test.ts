import t, { type Test } from 'tap'
import { createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { claimsFor, generateKey, jwks, mintToken, until } from '@wsguard/testing'
import { describeFailure, loggableUrl } from '../src/failures.js'
import { buildApp, connect } from './helpers.js'

// An unreachable issuer used to log {"type":"Object","message":"fetch failed","stack":""}:
// the cause (connection refused, DNS, TLS, timeout) was lost. Now the line carries the whole
// chain of causes and the innermost code, and never the token or a URL's query string.
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const key = generateKey('ES256')
const token = mintToken(key, claimsFor(ISS, AUD, 'alice'))

function warning (lines: readonly string[]): Record<string, unknown> {
  const said = lines.filter((l) => l.includes('could not fetch the issuer\'s keys'))
  return said.length === 1 ? JSON.parse(said[0] as string) : { lines: said.length }
}

/** A loopback port nothing listens on: bound, then closed. */
async function refusedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A TCP server that accepts connections and never answers: a fetch waits for headers forever. */
async function silentServer (t: Test): Promise<{ port: number, connected: () => number }> {
  const sockets: Socket[] = []
  const server = createServer((socket) => { sockets.push(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  return { port: (server.address() as AddressInfo).port, connected: () => sockets.length }
}

const bearer = { headers: { authorization: `Bearer ${token}` } }

t.test('a refused connection is logged as such: ECONNREFUSED and the address, not "fetch failed" alone', async (t) => {
  const port = await refusedPort()
  // The query string stands for a credential some IdPs put in a key-set URL.
  const jwksUri = `http://127.0.0.1:${port}/jwks?api_key=s3cret-in-query`
  const { url, logs } = await buildApp(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwksUri } })
  const res = await connect(t, url, bearer)
  t.equal(!res.open && res.status, 503)
  t.equal(!res.open && JSON.parse(res.body).code, 'WSG_UNAVAILABLE')
  await until(() => logs.lines.some((l) => l.includes('could not fetch')), 'the warning is logged')
  const line = warning(logs.lines)
  t.match(line, {
    level: 40,
    issuer: ISS,
    error: { code: 'ECONNREFUSED', message: `GET http://127.0.0.1:${port}/jwks: fetch failed: connect ECONNREFUSED 127.0.0.1:${port}` }
  })
  t.notMatch(logs.text(), /"type":"Object"/, 'no serialised plain object in place of the error')
  t.notOk(logs.text().includes('s3cret-in-query'), 'the key-set URL\'s query is not logged')
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})

t.test('an issuer that accepts the connection and never answers is logged as a timeout (ETIMEDOUT)', async (t) => {
  const silent = await silentServer(t)
  const jwksUri = `http://127.0.0.1:${silent.port}/jwks`
  const { url, logs } = await buildApp(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwksUri, jwksTimeoutMs: 200 } })
  const res = await connect(t, url, bearer)
  t.equal(!res.open && res.status, 503)
  t.ok(silent.connected() >= 1, 'the fetch did connect')
  await until(() => logs.lines.some((l) => l.includes('could not fetch')), 'the warning is logged')
  t.match(warning(logs.lines), {
    error: { code: 'ETIMEDOUT', message: `GET http://127.0.0.1:${silent.port}/jwks: no complete document within 200 ms` }
  })
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})

t.test('discovery that fails names the document it was after', async (t) => {
  const port = await refusedPort()
  const issuer = `http://127.0.0.1:${port}`
  const { url, logs } = await buildApp(t, { jwt: { issuer, audience: AUD, algorithms: ['ES256'], discovery: true } })
  const res = await connect(t, url, { headers: { authorization: `Bearer ${mintToken(key, claimsFor(issuer, AUD, 'alice'))}` } })
  t.equal(!res.open && res.status, 503)
  await until(() => logs.lines.some((l) => l.includes('could not fetch')), 'the warning is logged')
  t.match(warning(logs.lines), { error: { code: 'ECONNREFUSED', message: new RegExp(`^GET ${issuer}/\\.well-known/openid-configuration: fetch failed: connect ECONNREFUSED`) } })
})

t.test('describeFailure: causes in order, the innermost code, token-shaped text redacted', async (t) => {
  const dns = Object.assign(new Error('getaddrinfo ENOTFOUND idp.invalid'), { code: 'ENOTFOUND' })
  t.same(describeFailure(new Error('GET https://idp.invalid/jwks', { cause: new TypeError('fetch failed', { cause: dns }) })), {
    message: 'GET https://idp.invalid/jwks: fetch failed: getaddrinfo ENOTFOUND idp.invalid', code: 'ENOTFOUND'
  })
  const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  t.same(describeFailure(new TypeError('fetch failed', { cause: tls })), { message: 'fetch failed: self-signed certificate', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  // One connection attempt per address: an AggregateError with no message of its own.
  const both = Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:1'), new Error('connect ECONNREFUSED 127.0.0.1:1')]), { code: 'ECONNREFUSED' })
  t.same(describeFailure(new TypeError('fetch failed', { cause: both })), {
    message: 'fetch failed: connect ECONNREFUSED ::1:1; connect ECONNREFUSED 127.0.0.1:1', code: 'ECONNREFUSED'
  })
  t.same(describeFailure(new Error(`no key for ${token}`)), { message: 'no key for [REDACTED]' }, 'a token in a message is redacted')
  t.same(describeFailure('a string'), { message: 'a string' })
  t.same(describeFailure(new Error('same', { cause: new Error('same') })), { message: 'same' }, 'a repeated message once')
  t.same(describeFailure({}), { message: 'unknown error' })
  t.same(describeFailure(null), { message: 'unknown error' })
  const loop: { message: string, cause?: unknown } = { message: 'loop' }
  loop.cause = loop
  t.same(describeFailure(loop), { message: 'loop' }, 'a cause cycle ends')
  t.equal(loggableUrl('https://user:pw@idp.test:8443/keys?key=s3cret#x'), 'https://idp.test:8443/keys')
  // undici quotes a URL it refuses whole (session 22's review: a jwks_uri with a password).
  t.same(describeFailure(new TypeError('Request cannot be constructed from a URL that includes credentials: https://svc:pw@idp.test/jwks?key=s3cret')), {
    message: 'Request cannot be constructed from a URL that includes credentials: https://idp.test/jwks'
  }, 'a URL in a message is cut to its origin and path')
  t.same(describeFailure(new Error('bad https://svc:pw@[idp')), { message: 'bad [REDACTED]' }, 'one that does not parse is redacted')
})

t.test('static keys are never fetched, so nothing is logged for them', async (t) => {
  const { url, logs } = await buildApp(t, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) } })
  t.equal((await connect(t, url, bearer)).open, true)
  t.notOk(logs.text().includes('could not fetch'))
})
