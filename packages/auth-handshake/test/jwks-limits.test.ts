import t, { type Test } from 'tap'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKey, mintToken, claimsFor, until } from '@wsguard/testing'
import { buildApp, connect } from './helpers.js'

// A hostile or broken key server must not fill our memory or hold a key fetch open: the
// body is read no further than the size cap, and jwksTimeoutMs covers it to the last byte.
const AUD = 'feed-api'
const key = generateKey('ES256')
const CAP = 512 * 1024
const MB = 1024 * 1024

interface Feed {
  /** bytes the server handed to its socket */
  written: number
  /** the client went away before the server stopped by itself */
  cutOff: boolean
  done: boolean
}

/** A loopback key server whose /jwks answer is written by `body`, which stops when the client goes. */
type Writer = (res: ServerResponse, feed: Feed) => void

async function hostileServer (t: Test, body: Writer): Promise<{ jwksUri: string, feed: Feed }> {
  const feed: Feed = { written: 0, cutOff: false, done: false }
  const server = createServer((_req, res) => {
    res.on('close', () => {
      if (!feed.done) feed.cutOff = true
      feed.done = true
    })
    res.writeHead(200, { 'content-type': 'application/json' }) // no content-length: chunked
    body(res, feed)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { jwksUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, feed }
}

async function handshake (t: Test, jwksUri: string, jwksTimeoutMs = 5_000) {
  const issuer = 'https://idp.test'
  const { url, logs } = await buildApp(t, {
    jwt: { issuer, audience: AUD, algorithms: ['ES256'], jwksUri, jwksTimeoutMs }
  })
  const token = mintToken(key, claimsFor(issuer, AUD, 'alice'))
  const started = Date.now()
  const res = await connect(t, url, { headers: { authorization: `Bearer ${token}` } })
  return { res, ms: Date.now() - started, logs, token }
}

/** The one line saying the keys could not be fetched. */
function warning (lines: readonly string[]): string {
  const said = lines.filter((l) => l.includes('could not fetch the issuer\'s keys'))
  return said.length === 1 ? said[0] as string : `${said.length} warnings`
}

t.test('an endless chunked key set is dropped at the size cap, not buffered', async (t) => {
  const LIMIT = 64 * MB // the server's own bound, so the test ends even if the client never stops reading
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  const { jwksUri, feed } = await hostileServer(t, (res, feed) => {
    res.write('{"keys":[')
    const pump = (): void => {
      while (!feed.done && feed.written < LIMIT) {
        feed.written += chunk.length
        if (!res.write(chunk)) {
          res.once('drain', pump)
          return
        }
      }
      if (!feed.done) res.end(']}')
      feed.done = true
    }
    pump()
  })
  const { res, logs, token } = await handshake(t, jwksUri)
  t.equal(!res.open && res.status, 503, 'keys unavailable')
  t.equal(!res.open && JSON.parse(res.body).code, 'WSG_UNAVAILABLE')
  await until(() => feed.done, 'the key server stops writing')
  t.equal(feed.cutOff, true, 'the client hung up on the server')
  // What the server got out is the cap plus the socket buffers in between, far from its own bound.
  const written = `${(feed.written / MB).toFixed(1)} MB written (cap ${CAP / 1024} KB, server bound ${LIMIT / MB} MB)`
  t.ok(feed.written < 16 * MB, written)
  t.match(warning(logs.lines), /"error":\{"message":"GET http:\/\/127\.0\.0\.1:\d+\/jwks: document larger than 524288 bytes"\}/, 'the log names the cause')
  t.notOk(logs.text().includes(token), 'the token is in no log line')
})

/**
 * Node's fetch as it behaves once undici has lost track of the caller's signal: undici follows
 * it through a WeakRef to the controller of its own Request, which nothing holds once the
 * headers are in (nodejs/node#55428). A collection at the wrong moment made the abort reach
 * nothing, and the dripped key set below held a handshake for its whole 25 s.
 */
function fetchThatDropsTheSignal (t: Test): void {
  const real = globalThis.fetch
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => await real(input, { ...init, signal: null })) as typeof fetch
  t.teardown(() => { globalThis.fetch = real })
}

async function drippedKeySet (t: Test): Promise<void> {
  const TIMEOUT = 300
  const MAX_DRIPS = 1000 // 25 s at one byte per 25 ms: the server's own bound
  const { jwksUri, feed } = await hostileServer(t, (res, feed) => {
    res.write('{"keys":[') // the headers and a first chunk come at once: only the body is slow
    const timer = setInterval(() => {
      if (feed.done || feed.written >= MAX_DRIPS) {
        clearInterval(timer)
        if (!feed.done) res.end(']}')
        feed.done = true
        return
      }
      res.write(' ')
      feed.written++
    }, 25)
    res.on('close', () => clearInterval(timer))
  })
  const { res, ms, logs, token } = await handshake(t, jwksUri, TIMEOUT)
  t.equal(!res.open && res.status, 503, 'keys unavailable')
  t.equal(!res.open && JSON.parse(res.body).code, 'WSG_UNAVAILABLE')
  await until(() => feed.done, 'the key server stops dripping')
  t.equal(feed.cutOff, true, 'the client hung up on the server')
  t.ok(feed.written < MAX_DRIPS / 2, `${feed.written} bytes dripped before the cut`)
  t.ok(ms < TIMEOUT + 5_000, `answered after ${ms} ms`)
  t.match(warning(logs.lines), /"error":\{"message":"GET http:\/\/127\.0\.0\.1:\d+\/jwks: no complete document within 300 ms","code":"ETIMEDOUT"\}/,
    'the log names the cause')
  t.notOk(logs.text().includes(token), 'the token is in no log line')
}

t.test('a key set dripped slowly is dropped at jwksTimeoutMs, body included', drippedKeySet)

t.test('a key set dripped slowly is dropped at jwksTimeoutMs when the fetch no longer follows our signal', async (t) => {
  fetchThatDropsTheSignal(t)
  await drippedKeySet(t)
})

t.test('a key server that never sends its headers is given up at jwksTimeoutMs when the fetch no longer follows our signal', async (t) => {
  fetchThatDropsTheSignal(t)
  const TIMEOUT = 300
  const server = createServer(() => {}) // takes the request, never answers it
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const { res, ms, logs } = await handshake(t, `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, TIMEOUT)
  t.equal(!res.open && res.status, 503, 'keys unavailable')
  t.ok(ms < TIMEOUT + 5_000, `answered after ${ms} ms`)
  t.match(warning(logs.lines), /no complete document within 300 ms","code":"ETIMEDOUT"/, 'the log names the cause')
})
