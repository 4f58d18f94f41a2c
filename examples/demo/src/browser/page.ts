/// <reference lib="dom" />
// The pages' script, bundled by esbuild at startup (src/bundle.ts) and served as /app.js.
// It runs in the browser only: the tests drive it through Chromium.
import { connect, type ClientEvent } from '@wsguard/client'
import type { PricesConfig } from '../pages/prices.js'
import type { AdminConfig } from '../pages/admin.js'

const $ = (id: string): HTMLElement => document.getElementById(id) as HTMLElement
const config = JSON.parse($('config').textContent ?? '{}') as PricesConfig | AdminConfig

function log (text: string): void {
  const item = document.createElement('li')
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`
  $('log').prepend(item)
}

/** What a close code means to the page (auth-handshake's browserRejection, session-expiry's codes). */
function meaning (code: number): string {
  if (code === 4401) return 'expired'
  if (code === 4403) return 'forbidden'
  if (code === 4429) return 'rate limited'
  if (code === 1001) return 'server going away'
  if (code === 1006) return 'refused (a browser is not told why)'
  return 'closed'
}

/** The app's session hands the page an access token, kept in memory only; 401 means signed out. */
async function getToken ({ reason }: { reason: string }): Promise<string> {
  const response = await fetch('/session/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason }) })
  if (!response.ok) throw new Error(response.status === 401 ? 'signed out' : `session: HTTP ${response.status}`)
  return ((await response.json()) as { token: string }).token
}

function pricesPage (c: PricesConfig): void {
  let expiresAt = 0
  let connections = 0
  let refreshes = 0
  const row = (topic: string): HTMLElement | null => document.querySelector(`tr[data-topic="${topic}"]`)
  const onMessage = (data: string | ArrayBuffer): void => {
    const m = JSON.parse(String(data)) as { type: string, topic?: string, reason?: string, socket?: string, expiresAt?: number, price?: number, change?: number }
    if (m.type === 'hello') {
      $('socket').textContent = String(m.socket).slice(0, 8)
      expiresAt = m.expiresAt ?? 0
      log(`hello on socket ${String(m.socket).slice(0, 8)}`)
    } else if (m.type === 'price') {
      const r = row(m.topic ?? '')
      if (r === null) return
      ;(r.children[1] as HTMLElement).textContent = (m.price ?? 0).toFixed(2)
      const change = r.children[2] as HTMLElement
      change.textContent = `${(m.change ?? 0) >= 0 ? '+' : ''}${(m.change ?? 0).toFixed(2)}`
      change.className = (m.change ?? 0) >= 0 ? 'change up' : 'change down'
    } else if (m.type === 'denied') {
      $('other-result').innerHTML = `<span class="bad">denied</span>: ${m.topic ?? ''}, reason <b>${m.reason ?? ''}</b>`
      log(`denied ${m.topic ?? ''}: ${m.reason ?? ''}`)
    } else if (m.type === 'subscribed') {
      if (row(m.topic ?? '') === null) $('other-result').innerHTML = `<span class="good">allowed</span>: ${m.topic ?? ''}`
      log(`subscribed ${m.topic ?? ''}`)
    }
  }
  const onEvent = (e: ClientEvent): void => {
    if (e.type === 'connected') {
      connections++
      $('connections').textContent = String(connections)
      $('status').textContent = 'live'
      $('status').className = 'big good'
    } else if (e.type === 'expiring') {
      log('auth.expiring: getting a fresh token')
    } else if (e.type === 'refreshed') {
      refreshes++
      expiresAt = e.expiresAt ?? expiresAt
      $('refreshes').textContent = String(refreshes)
      $('refreshed').textContent = `last refresh ${new Date().toLocaleTimeString()}, on socket ${$('socket').textContent ?? ''}`
      log(`auth.refreshed on the same socket, token now expires ${new Date(expiresAt).toLocaleTimeString()}`)
    } else if (e.type === 'refresh-failed') {
      log(`refresh failed ${e.code ?? String(e.error)}`)
    } else if (e.type === 'closed') {
      $('status').textContent = `${meaning(e.code)}: ${e.code} ${e.reason}`
      $('status').className = 'big bad'
      log(`closed ${e.code} ${e.reason}`)
    } else if (e.type === 'retrying') {
      log(`reconnecting in ${Math.round(e.delayMs)} ms`)
    } else if (e.type === 'stopped') {
      log(`stopped (${e.cause}): ${e.code} ${e.reason}`)
    } else if (e.type === 'credential-failed') {
      log(`no credential: ${String((e.error as Error).message)}`)
    }
  }
  const feed = connect({ url: c.feed, protocols: [c.protocol], ticketUrl: c.ticketUrl, getToken, topics: c.topics, onMessage, onEvent })

  setInterval(() => {
    if (expiresAt === 0) return
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000))
    $('countdown').textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`
  }, 250)

  $('ask-other').addEventListener('click', () => {
    // A one-off request, not a subscription kept across reconnects.
    feed.send(JSON.stringify({ type: 'subscribe', topic: c.otherTopic }))
  })

  $('open-other').addEventListener('click', () => {
    const other = connect({
      url: c.otherFeed,
      protocols: [c.protocol],
      ticketUrl: c.ticketUrl,
      getToken,
      onEvent: (e) => {
        if (e.type !== 'closed') return
        $('open-result').innerHTML = `<span class="bad">${meaning(e.code)}</span>: ${e.code} ${e.reason}`
        other.close()
      }
    })
  })

  $('replay').addEventListener('click', () => {
    (async () => {
      const token = await getToken({ reason: 'connect' })
      const response = await fetch(c.ticketUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ path: c.feed }) })
      const { ticket } = await response.json() as { ticket: string }
      const open = (): Promise<CloseEvent> => new Promise((resolve) => {
        const ws = new WebSocket(c.feed, [c.protocol, `ticket.${ticket}`])
        ws.onmessage = () => { ws.close(1000) }
        ws.onclose = resolve
      })
      const first = await open()
      const second = await open()
      $('replay-result').innerHTML = `first use: ${first.code}; replayed: <span class="bad">${meaning(second.code)}</span>: ${second.code} ${second.reason}`
    })()
  })
}

function adminPage (c: AdminConfig): void {
  const render = async (): Promise<void> => {
    const sessions = await (await fetch('/admin/sessions')).json() as Array<{ subject: string, tenant: string, socket: string, route: string, expiresAt?: number }>
    $('sessions').innerHTML = sessions.map((s) => `<tr><td>${s.subject}</td><td>${s.tenant}</td><td>${s.socket.slice(0, 8)}</td><td>${s.route}</td><td>${s.expiresAt === undefined ? '' : new Date(s.expiresAt).toLocaleTimeString()}</td></tr>`).join('')
  }
  for (const user of c.users) {
    document.querySelector(`button[data-revoke="${user.id}"]`)?.addEventListener('click', () => {
      (async () => {
        const response = await fetch('/admin/revoke', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subject: user.id }) })
        const result = await response.json() as { closed: number }
        $('revoke-result').textContent = `revoked ${user.id}: ${result.closed} socket(s) closed`
        await render()
      })()
    })
  }
  render().catch(() => {})
  setInterval(() => { render().catch(() => {}) }, 1000)
}

if (config.page === 'prices') pricesPage(config)
else adminPage(config)
