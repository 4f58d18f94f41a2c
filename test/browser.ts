// What the browser tests share: Debian's chromium through playwright-core, pages served on
// loopback, and a WebSocket opened from inside a page, reported back as plain data.
import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Test } from 'tap'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Chromium, headless. A missing browser fails the test (it is not skipped): `.ci/run`
 * installs Debian's package. The flags keep it off the network this machine does not have.
 */
export async function launch (t: Test, executablePath = CHROMIUM): Promise<Browser> {
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`)
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  return browser
}

/** A server for one blank page; its origin is `http://127.0.0.1:<port>`. */
export async function pageServer (t: Test): Promise<string> {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/', async (_request, reply) => await reply.type('text/html').send('<!doctype html><title>wsguard</title>'))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** A page loaded from `origin`. */
export async function pageAt (t: Test, browser: Browser, origin: string): Promise<Page> {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  // The tests run through tsx, whose esbuild keeps function names with a `__name` helper; a
  // function handed to page.evaluate() is sent as its source, so the page needs that helper too.
  await context.addInitScript('globalThis.__name = (fn) => fn')
  const page = await context.newPage()
  await page.goto(`${origin}/`)
  return page
}

/** What a page's WebSocket did, from open to close. */
export interface SocketReport {
  opened: boolean
  /** `ws.protocol` once open: the subprotocol the server selected */
  protocol: string | null
  messages: string[]
  close: { code: number, reason: string }
}

export interface SocketScript {
  url: string
  protocols?: string[]
  /** frames to send, one after each message received (the first right after open) */
  send?: string[]
  /** close (1000) after this many messages; left open otherwise, until the server closes */
  closeAfter?: number
}

/**
 * Opens a WebSocket in the page and resolves with its report once it closed. A socket the
 * browser refuses to open (a refused handshake, a missing subprotocol) closes with 1006.
 */
export async function openInPage (page: Page, script: SocketScript): Promise<SocketReport> {
  // The function below runs in the page, not in Node, so Node's coverage cannot see it run.
  /* c8 ignore start */
  return await page.evaluate(async ({ url, protocols, send, closeAfter }) => await new Promise<SocketReport>((resolve) => {
    const ws = new WebSocket(url, protocols)
    const report: SocketReport = { opened: false, protocol: null, messages: [], close: { code: 0, reason: '' } }
    const queue = [...(send ?? [])]
    ws.onopen = () => {
      report.opened = true
      report.protocol = ws.protocol
      const next = queue.shift()
      if (next !== undefined) ws.send(next)
    }
    ws.onmessage = (event) => {
      report.messages.push(String(event.data))
      const next = queue.shift()
      if (next !== undefined) ws.send(next)
      if (closeAfter !== undefined && report.messages.length >= closeAfter) ws.close(1000, 'done')
    }
    ws.onclose = (event) => {
      report.close = { code: event.code, reason: event.reason }
      resolve(report)
    }
  }), { url: script.url, protocols: script.protocols ?? [], send: script.send ?? [], closeAfter: script.closeAfter })
  /* c8 ignore stop */
}
