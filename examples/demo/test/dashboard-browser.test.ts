// The dashboard in headless Chromium (Debian's, through playwright-core): the numbers it
// shows reach the scenario's, the storm button raises the anomaly, and all of it without a
// reload (a marker set on the page's window survives).
import { existsSync } from 'node:fs'
import t from 'tap'
import { chromium, type Page } from 'playwright-core'
import { AFTER_STORM, BEFORE_STORM, dashboardApp, scenario } from './dashboard-harness.js'

// The page's globals, as far as the functions run in it use them: this package compiles
// without the DOM library, and a declaration here stays in this module.
interface PageElement {
  textContent: string | null
  dataset: Record<string, string | undefined>
  querySelectorAll: (selector: string) => Iterable<PageElement>
}
declare const document: { getElementById: (id: string) => PageElement | null, querySelectorAll: (selector: string) => Iterable<PageElement> }
declare const window: { marker?: unknown }

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const WAIT = { timeout: 15_000 }

interface Shown {
  accepted: string
  rejected: string
  codes: string[][]
  active: string
  ended: string
  p50: string | undefined
  p95: string | undefined
  storms: string
  marker: unknown
}

// The function below runs in the page, not in Node, so Node's coverage cannot see it run.
/* c8 ignore start */
async function shown (page: Page): Promise<Shown> {
  return await page.evaluate(() => {
    const text = (id: string): string => document.getElementById(id)?.textContent ?? ''
    return {
      accepted: text('hs-accepted'),
      rejected: text('hs-rejected'),
      codes: [...document.querySelectorAll('#hs-codes tbody tr')].map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent ?? '')),
      active: text('sessions-active'),
      ended: text('durations-count'),
      p50: document.getElementById('durations-p50')?.dataset.value,
      p95: document.getElementById('durations-p95')?.dataset.value,
      storms: text('anomaly-reconnect-storm'),
      marker: window.marker
    }
  })
}

/** Waits until the page shows `accepted` and `rejected` handshakes and `ended` sessions. */
async function reaches (page: Page, accepted: number, rejected: number, ended: number): Promise<void> {
  await page.waitForFunction(([a, r, e]) => {
    const text = (id: string): string | null | undefined => document.getElementById(id)?.textContent
    return text('hs-accepted') === String(a) && text('hs-rejected') === String(r) && text('durations-count') === String(e)
  }, [accepted, rejected, ended], WAIT)
}
/* c8 ignore stop */

const rowsOf = (byCode: Array<{ outcome: string, code: string, count: number }>): string[][] => byCode.map((r) => [r.outcome, r.code, String(r.count)])

t.test('the page shows the scenario\'s numbers, live, and the storm button raises the anomaly', async (t) => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`)
  const h = await dashboardApp(t)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  const context = await browser.newContext()
  t.teardown(() => context.close())
  // The tests run through tsx, whose esbuild keeps function names with a `__name` helper; a
  // function handed to page.evaluate() is sent as its source, so the page needs that helper too.
  await context.addInitScript('globalThis.__name = (fn) => fn')
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })

  await page.goto(`${h.origin}/dashboard`)
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'live', undefined, WAIT)
  await page.evaluate(() => { window.marker = 'the same page' })
  t.same((await shown(page)).codes, [['accepted', 'none', '0']], 'live before anything happened')

  await scenario(t, h)
  await reaches(page, BEFORE_STORM.accepted, BEFORE_STORM.rejected, BEFORE_STORM.ended)
  const before = await shown(page)
  t.same(before, {
    accepted: String(BEFORE_STORM.accepted),
    rejected: String(BEFORE_STORM.rejected),
    codes: rowsOf(BEFORE_STORM.byCode),
    active: String(BEFORE_STORM.active),
    ended: String(BEFORE_STORM.ended),
    p50: String(BEFORE_STORM.p50),
    p95: String(BEFORE_STORM.p95),
    storms: '0',
    marker: 'the same page'
  }, 'the scenario, as the page shows it, without a reload')
  t.equal(await page.locator('#durations-p50').textContent(), '3 min')
  t.equal(await page.locator('#durations-chart rect[data-le="300"]').getAttribute('data-count'), '1', "carol's session in the (60 s, 5 min] bar")
  t.equal(await page.locator('#sessions-chart polyline[data-series="active"]').count(), 1, 'the active-sessions line is drawn')

  await page.locator('#storm-button').click()
  await page.waitForFunction(() => document.getElementById('storm-status')?.dataset.state === 'finished', undefined, WAIT)
  await page.waitForFunction(() => document.getElementById('anomaly-reconnect-storm')?.textContent === '1', undefined, WAIT)
  await reaches(page, AFTER_STORM.accepted, AFTER_STORM.rejected, AFTER_STORM.ended)
  const after = await shown(page)
  t.same(after.codes, rowsOf(AFTER_STORM.byCode), 'the throttled storm shows as WSG_RATE_LIMITED refusals')
  t.equal(after.active, String(AFTER_STORM.active))
  t.equal(after.storms, String(AFTER_STORM.stormAnomalies))
  t.equal(after.marker, 'the same page', 'still the same page: updated without a reload')
  t.match(await page.locator('#anomaly-log li[data-anomaly="reconnect-storm"]').first().textContent(), /reconnect storms: \+1$/)
  t.equal(await page.locator('[data-anomaly="reconnect-storm"].raised').count(), 1, 'the tile is marked raised')
  t.match(await page.locator('#storm-status').textContent(), /^reconnect storm finished in \d+ ms/)
  t.equal(await page.locator('#storm-button').isEnabled(), true, 'the button is back')

  const data = await h.data()
  t.equal(after.accepted, String(data.handshakes.accepted), 'the page and the JSON agree')
  t.equal(after.rejected, String(data.handshakes.rejected))

  t.same(problems, [], 'no script error, no CSP violation, no failed load')
  if (process.env.DASHBOARD_SCREENSHOT !== undefined) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true })

  await h.app.close()
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'error', undefined, WAIT)
  t.match(await page.locator('#status').textContent(), /^no data \(.*\); retrying every second$/, 'a server gone is said so')
})
