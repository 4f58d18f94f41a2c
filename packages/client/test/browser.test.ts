// The browser build in Chromium (Debian's, through playwright-core): the bundle an app's
// bundler would make, loaded by a page on one origin, against the API on another
// (auth-handshake + session-expiry, one fake clock). It connects with the token the page
// fetched, refreshes in-band on the same socket, and stops on revocation.
import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { chromium, type Page } from 'playwright-core'
import { authHandshake, requirePrincipal } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { claimsFor, FakeClock, generateKey, jwks, mintToken } from '@wsguard/testing'
import type { ClientEvent } from '../src/index.js'
import { browserBundle } from './bundle.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ISS = 'https://idp.test'
const AUD = 'feed-api'
const LIFETIME_S = 120
const NOTICE_MS = 30_000
const key = generateKey('ES256')
const clock = new FakeClock(Date.now())
const minted: string[] = []

// The page: a blank document, the bundle, and a token endpoint (the app's session would be here).
const pages = Fastify()
t.teardown(() => pages.close())
const bundle = await browserBundle()
pages.get('/', async (_request, reply) => await reply.type('text/html').send('<!doctype html><title>client</title>'))
pages.get('/client.js', async (_request, reply) => await reply.type('text/javascript').send(bundle.code))
pages.get('/token', async () => {
  const token = mintToken(key, claimsFor(ISS, AUD, 'alice', clock.now(), LIFETIME_S))
  minted.push(token)
  return token
})
await pages.listen({ port: 0, host: '127.0.0.1' })
const origin = `http://127.0.0.1:${(pages.server.address() as AddressInfo).port}`

// The API, on another port: only the page's origin.
const api = Fastify()
t.teardown(() => api.close())
await api.register(websocket)
await api.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: jwks(key) }, carriers: ['subprotocol'], allowedOrigins: [origin], clock })
await api.register(sessionExpiry, { clock, noticeMs: NOTICE_MS, graceMs: 0, heartbeatMs: 0, idleTimeoutMs: 0, closeTimeoutMs: 1_000 })
const sessions: string[] = []
const refreshed: string[] = []
api.get('/feed', { websocket: true }, (socket, request) => {
  sessions.push(request.wsSession.id)
  request.wsSession.on('refreshed', () => refreshed.push(request.wsSession.id))
  socket.send(`hello ${requirePrincipal(request).id}`)
})
await api.listen({ port: 0, host: '127.0.0.1' })
const feed = `ws://127.0.0.1:${(api.server.address() as AddressInfo).port}/feed`

if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`)
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
})
t.teardown(() => browser.close())

// The tests run through tsx, whose esbuild keeps function names with a `__name` helper; a
// function handed to page.evaluate() is sent as its source, so the page needs that helper too.
const KEEP_NAMES = 'globalThis.__name = (fn) => fn'
async function newPage (): Promise<Page> {
  const page = await browser.newPage()
  await page.addInitScript(KEEP_NAMES)
  return page
}

t.test('the bundle is the browser build alone: no dependency, nothing of Node', async (t) => {
  t.same(bundle.inputs.filter((input) => !input.startsWith('src/')), [])
  t.notMatch(bundle.code, /\bimport\s*[({"']|\brequire\(|["']node:/, 'no import, require or node: module left in it')
})

t.test('in Chromium: connects with the page\'s token, refreshes in-band on the same socket, stops on 4403', async (t) => {
  const page = await newPage()
  t.teardown(() => page.close())
  await page.goto(`${origin}/`)
  // What follows in evaluate() runs in the page, where Node's coverage cannot see it.
  /* c8 ignore start */
  await page.evaluate(async (url) => {
    const { connect } = await import('/client.js' as string) as typeof import('../src/index.js')
    const state = globalThis as unknown as { events: ClientEvent[], messages: unknown[] }
    state.events = []
    state.messages = []
    connect({
      url,
      protocols: ['feed.v1'],
      getToken: async () => await (await fetch('/token')).text(),
      onEvent: (event) => { state.events.push(event) },
      onMessage: (data) => { state.messages.push(data) }
    })
  }, feed)
  const eventsOf = async (type: string): Promise<ClientEvent[]> => {
    await page.waitForFunction((type) => (globalThis as unknown as { events: ClientEvent[] }).events.some((e) => e.type === type), type)
    return await page.evaluate(() => (globalThis as unknown as { events: ClientEvent[] }).events)
  }
  /* c8 ignore stop */

  const connected = await eventsOf('connected')
  t.same(connected.find((e) => e.type === 'connected'), { type: 'connected', protocol: 'feed.v1' })
  t.same(await page.evaluate(() => (globalThis as unknown as { messages: unknown[] }).messages), ['hello alice'])

  clock.advance(LIFETIME_S * 1_000 - NOTICE_MS)
  const afterRefresh = await eventsOf('refreshed')
  t.same(afterRefresh.map((e) => e.type), ['connecting', 'connected', 'expiring', 'refreshed'])
  t.equal(minted.length, 2, 'the page fetched a second token for the refresh')
  t.equal(sessions.length, 1, 'one handshake only')
  t.same(refreshed, [sessions[0]], 'refreshed on the same socket')

  await api.wsSessions.revoke({ subject: 'alice' })
  const afterRevoke = await eventsOf('stopped')
  t.same(afterRevoke.slice(-2), [
    { type: 'closed', code: 4403, reason: 'access revoked' },
    { type: 'stopped', cause: 'revoked', code: 4403, reason: 'access revoked' }
  ])
  const text = JSON.stringify(afterRevoke)
  for (const token of minted) t.notOk(text.includes(token), 'no event holds a token')
})

t.test('in Chromium: credentialWebSocket() closes a socket whose server selected the credential, before the framework hears of the open', async (t) => {
  const { WebSocketServer } = await import('ws')
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (offered) => [...offered].find((p) => p.startsWith('bearer.')) ?? false })
  t.teardown(() => new Promise<void>((resolve) => { wss.close(() => { resolve() }) }))
  await new Promise((resolve) => wss.once('listening', resolve))
  const page = await newPage()
  t.teardown(() => page.close())
  await page.goto(`${origin}/`)
  /* c8 ignore start */
  const seen = await page.evaluate(async (url) => {
    const { credentialWebSocket } = await import('/client.js' as string) as typeof import('../src/index.js')
    const Authed = credentialWebSocket({ getToken: () => 'secret-token', protocols: ['trpc'] })
    const socket = new Authed(url)
    const opened: string[] = []
    // What a framework does after constructing its socket.
    socket.onopen = () => { opened.push(socket.protocol) }
    const closed = await new Promise<{ code: number, reason: string }>((resolve) => { socket.onclose = (e) => { resolve({ code: e.code, reason: e.reason }) } })
    return { opened, closed, protocol: socket.protocol }
  }, `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/trpc`)
  /* c8 ignore stop */
  t.same(seen, { opened: [], closed: { code: 4400, reason: 'the server selected the credential as its subprotocol' }, protocol: '' })
})
