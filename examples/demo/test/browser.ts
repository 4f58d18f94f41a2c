// Debian's Chromium through playwright-core, as the repository's browser tests launch it
// (test/browser.ts at the root): headless, off the network. A missing browser fails the test.
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Test } from 'tap'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export async function launch (t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  return browser
}

/** A fresh browser profile (its own cookies) with one page. */
export async function newPage (t: Test, browser: Browser): Promise<Page> {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  return await context.newPage()
}

/**
 * Signs in as `user` the way a person does: the app's Sign in button, then the user's button
 * on the provider's own page; resolves back on the app's page.
 */
export async function signIn (page: Page, url: string, user: string): Promise<void> {
  await page.goto(url)
  await page.click('a[href="/login"]')
  await page.click(`button:has-text("Sign in as ${user}")`)
  await page.waitForURL(url)
}
