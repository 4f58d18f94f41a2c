// End to end in headless Chromium: a person signs in on the provider's page, watches prices
// and a refresh on the same socket, is denied another tenant's topic and feed, replays a
// ticket, and is revoked by the admin; pages of another origin are refused.
import t from 'tap'
import Fastify from 'fastify'
import type { Page } from 'playwright-core'
import { launch, newPage, signIn } from './browser.js'
import { demo } from './helpers.js'

const browser = await launch(t)
// Tokens of 8 s, auth.expiring 5 s before: a refresh about every 3 s.
const d = await demo(t, { tokenTtlS: 8, noticeMs: 5_000, graceMs: 1_000, pricesIntervalMs: 100 })

const text = async (page: Page, selector: string): Promise<string> => (await page.textContent(selector)) ?? ''
/** Waits for `selector`'s text to match (Playwright polls the page; bounded by its timeout). */
async function waitText (page: Page, selector: string, pattern: RegExp): Promise<string> {
  await page.waitForFunction(([s, p]) => new RegExp(p).test(document.querySelector(s)?.textContent ?? ''), [selector, pattern.source] as const, { timeout: 20_000 })
  return await text(page, selector)
}

t.test('alice: one click on the provider page, acme prices, a refresh on the same socket, denials with reasons', async (t) => {
  const page = await newPage(t, browser)
  await signIn(page, d.url, 'alice')
  t.match(await text(page, 'h1'), 'Alice · tenant acme')
  await waitText(page, '#status', /^live$/)
  await waitText(page, 'tr[data-topic="prices.acme.widget"] .price', /^\d+\.\d\d$/)
  await waitText(page, 'tr[data-topic="prices.acme.gadget"] .price', /^\d+\.\d\d$/)
  t.equal(await page.locator('tr[data-topic^="prices.globex"]').count(), 0, 'no globex row')
  const socket = await waitText(page, '#socket', /^[\w-]{8}$/)
  t.match(await waitText(page, '#countdown', /^0:0\d$/), /^0:0\d$/, 'a countdown to the token\'s expiry')
  await waitText(page, '#refreshes', /^2$/)
  t.equal(await text(page, '#connections'), '1', 'two refreshes, one connection')
  t.equal(await text(page, '#socket'), socket, 'the same socket')
  t.match(await text(page, '#refreshed'), `on socket ${socket}`)
  t.match(await text(page, '#log'), 'auth.refreshed on the same socket')

  await page.click('#ask-other')
  t.match(await waitText(page, '#other-result', /denied/), 'denied: prices.globex.sprocket, reason claim-mismatch')
  await page.click('#open-other')
  t.match(await waitText(page, '#open-result', /4403/), 'forbidden: 4403 WSG_TOPIC_DENIED', 'refused at the handshake, and the page reads why')
  await page.click('#replay')
  t.match(await waitText(page, '#replay-result', /replayed/), 'first use: 1000; replayed: expired: 4401 WSG_TICKET_INVALID')
  t.equal(await text(page, '#status'), 'live', 'none of it touched the feed')
})

t.test('the admin revokes alice: her page shows the 4403 at once and does not reconnect', async (t) => {
  const alice = await newPage(t, browser)
  await signIn(alice, d.url, 'alice')
  await waitText(alice, '#status', /^live$/)
  const admin = await newPage(t, browser)
  await signIn(admin, d.url, 'admin')
  await admin.goto(`${d.url}admin`)
  await waitText(admin, '#sessions', /alice/)
  await admin.click('button[data-revoke="alice"]')
  t.match(await waitText(admin, '#revoke-result', /revoked/), /revoked alice: \d+ socket\(s\) closed/)
  t.equal(await waitText(alice, '#status', /4403/), 'forbidden: 4403 access revoked')
  t.match(await waitText(alice, '#log', /stopped/), 'stopped (revoked): 4403 access revoked')
  t.equal(await text(alice, '#connections'), '1')
  await alice.reload()
  t.match(await text(alice, 'h1'), 'Live prices over a governed WebSocket', 'signed out of the app too')
})

t.test('a page from another origin: its socket is refused, and told so', async (t) => {
  const evil = Fastify()
  t.teardown(() => evil.close())
  evil.get('/', async (_request, reply) => await reply.type('text/html').send('<!doctype html><title>elsewhere</title>'))
  const origin = await evil.listen({ port: 0, host: '127.0.0.1' })
  const page = await newPage(t, browser)
  await page.goto(origin)
  /* c8 ignore start */ // runs in the page
  const close = await page.evaluate(async (url) => await new Promise<string>((resolve) => {
    const ws = new WebSocket(url, ['prices.v1'])
    ws.onclose = (e) => { resolve(`${e.code} ${e.reason}`) }
  }), `${d.url.replace('http', 'ws')}ws/prices/acme`)
  /* c8 ignore stop */
  t.equal(close, '4403 WSG_ORIGIN_DENIED')
})

t.test('with browserRejection \'http\', the page sees only 1006 and cannot tell why', async (t) => {
  const plain = await demo(t, { browserRejection: 'http' })
  const page = await newPage(t, browser)
  await signIn(page, plain.url, 'bob')
  await waitText(page, '#status', /^live$/)
  await page.click('#open-other')
  t.match(await waitText(page, '#open-result', /1006/), 'refused (a browser is not told why): 1006')
  await page.click('#replay')
  t.match(await waitText(page, '#replay-result', /replayed/), 'replayed: refused (a browser is not told why): 1006')
})
