import { page } from './html.js'

/** Before sign-in: what the demo is, and the button that starts the code flow. */
export function landingPage (): string {
  return page('wsguard demo', `<section><h1>Live prices over a governed WebSocket</h1>
<p>Sign in at the demo OpenID Provider (authorization code flow with PKCE). Then watch your
tenant's prices stream in, your token count down and refresh in-band on the same socket, a
topic of another tenant denied with its reason, and an admin revoke you.</p>
<p><a href="/login"><button class="primary" type="button">Sign in</button></a></p>
<p class="muted">Demo users: <b>alice</b> (tenant acme), <b>bob</b> (tenant globex), <b>admin</b> (revokes users).</p></section>`)
}

/** A short page that says what went wrong. */
export function messagePage (title: string, text: string): string {
  return page(title, `<section><h1>${title}</h1><p>${text}</p><p><a href="/">Back</a></p></section>`)
}
