// Run by hand (not in CI): `node --conditions=@wsguard/source --import tsx scripts/screenshots.ts`
// from examples/demo. Starts the demo, signs in as alice in headless Chromium, and saves
// docs/demo.png (prices, countdown, a refresh, a denied topic) and, once the dashboard is
// there, docs/dashboard.png.
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { startDemo } from '../src/server.js'

const docs = (name: string): string => fileURLToPath(new URL(`../../../docs/${name}`, import.meta.url))
// Short tokens so that the picture shows a refresh on the same socket.
const demo = await startDemo({ port: 0, tokenTtlS: 40, noticeMs: 35_000 })
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] })
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 })
  await page.goto(demo.url)
  await page.click('a[href="/login"]')
  await page.click('button:has-text("Sign in as alice")')
  await page.waitForURL(demo.url)
  await page.waitForFunction(() => document.querySelector('#refreshes')?.textContent === '1', undefined, { timeout: 30_000 })
  await page.click('#ask-other')
  await page.click('#open-other')
  await page.waitForFunction(() => /4403/.test(document.querySelector('#open-result')?.textContent ?? ''))
  await page.screenshot({ path: docs('demo.png'), fullPage: true })
  console.log(`saved ${docs('demo.png')}`)
  // Bob signs in too (his own browser context), and both pages stay open: the dashboard shows their sessions.
  const bob = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage()
  await bob.goto(demo.url)
  await bob.click('a[href="/login"]')
  await bob.click('button:has-text("Sign in as bob")')
  await bob.waitForURL(demo.url)
  const dash = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 })
  const dashboard = await dash.goto(`${demo.url}dashboard`)
  if (dashboard?.status() === 200) {
    await dash.waitForFunction(() => document.getElementById('sessions-active')?.textContent === '2', undefined, { timeout: 30_000 })
    // A few seconds of history in the charts (a picture, not a test).
    await dash.waitForTimeout(8_000)
    // The dashboard's own button starts the storm; wait for the anomaly to show.
    await dash.click('#storm-button:not([disabled])')
    await dash.waitForFunction(() => document.getElementById('anomaly-reconnect-storm')?.textContent === '1', undefined, { timeout: 30_000 })
    await dash.waitForFunction(() => Number(document.getElementById('anomaly-log')?.children.length) > 0, undefined, { timeout: 30_000 })
    await dash.waitForTimeout(3_000)
    await dash.screenshot({ path: docs('dashboard.png'), fullPage: true })
    console.log(`saved ${docs('dashboard.png')}`)
  } else {
    console.log('no /dashboard yet: docs/dashboard.png not taken')
  }
} finally {
  await browser.close()
  await demo.close()
}
