import type { WebSession } from '../web-session.js'
import { escapeHtml, page, scriptJson } from './html.js'

/** What the page's script reads (`#config`). Nothing secret: no token, no session id. */
export interface PricesConfig {
  page: 'prices'
  user: string
  tenant: string
  /** the websocket path of the user's own tenant */
  feed: string
  /** the tenant's topics, subscribed on every connection */
  topics: string[]
  /** a topic of another tenant: the "ask for it" button */
  otherTopic: string
  /** another tenant's websocket path: refused at the handshake */
  otherFeed: string
  ticketUrl: string
  protocol: string
}

export function pricesPage (session: WebSession, config: PricesConfig): string {
  const { user } = session
  const rows = config.topics.map((topic) => `<tr data-topic="${escapeHtml(topic)}"><td>${escapeHtml(topic)}</td><td class="price">…</td><td class="change"></td></tr>`).join('')
  return page(`prices · ${user.id}`, `
<h1>${escapeHtml(user.name)} · tenant ${escapeHtml(user.tenant)}</h1>
<div class="grid">
  <section><h2>Connection</h2><div id="status" class="big">connecting…</div>
    <div>socket <b id="socket">–</b></div>
    <div>connections opened: <b id="connections">0</b></div></section>
  <section><h2>Access token</h2><div>expires in <span id="countdown" class="big">–</span></div>
    <div>refreshed in-band: <b id="refreshes">0</b> time(s)</div><div id="refreshed" class="muted"></div></section>
</div>
<section><h2>Prices</h2><table id="prices"><thead><tr><th>topic</th><th>price</th><th>change</th></tr></thead><tbody>${rows}</tbody></table></section>
<section><h2>Try what is not allowed</h2>
  <p><button id="ask-other" type="button">Subscribe to ${escapeHtml(config.otherTopic)}</button> <span id="other-result"></span></p>
  <p><button id="open-other" type="button">Open the ${escapeHtml(config.otherFeed)} feed</button> <span id="open-result"></span></p>
  <p><button id="replay" type="button">Replay a used ticket</button> <span id="replay-result"></span></p></section>
<section><h2>Events</h2><ol id="log" class="log"></ol></section>
<script type="application/json" id="config">${scriptJson(config)}</script>
<script type="module" src="/app.js"></script>`, `${user.id} (${user.tenant})`)
}
