import type { WebSession } from '../web-session.js'
import type { DemoUser } from '../users.js'
import { escapeHtml, page, scriptJson } from './html.js'

export interface AdminConfig {
  page: 'admin'
  users: Array<Pick<DemoUser, 'id' | 'tenant'>>
}

/** The admin's page: live sessions, and a button per user that revokes them. */
export function adminPage (session: WebSession, config: AdminConfig): string {
  const buttons = config.users.map((u) => `<button type="button" data-revoke="${escapeHtml(u.id)}">Revoke ${escapeHtml(u.id)}</button>`).join(' ')
  return page('admin', `<h1>Admin</h1>
<section><h2>Revoke a user</h2><p>Closes every socket of the user at once (4403), refuses their tokens at the next
handshake, and signs them out of this app.</p><p>${buttons}</p><p id="revoke-result"></p></section>
<section><h2>Open sessions</h2><table><thead><tr><th>subject</th><th>tenant</th><th>socket</th><th>route</th><th>token expires</th></tr></thead>
<tbody id="sessions"></tbody></table></section>
<script type="application/json" id="config">${scriptJson(config)}</script>
<script type="module" src="/app.js"></script>`, `${session.user.id} (admin)`)
}
