// The web app and the provider from Node: sign-in, the session's token endpoint, the admin
// endpoints and who may call them, and the answers to everything else.
import { request } from 'node:http'
import { createServer } from 'node:net'
import t from 'tap'
import { startDemo } from '../src/server.js'
import { accessToken, demo, follow, Jar, postJson, signIn } from './helpers.js'

const d = await demo(t, { tokenTtlS: 2 })
const origin = new URL(d.url).origin

t.test('the sign-in page of the provider lists the demo users; a POST naming no demo user is refused', async (t) => {
  const jar = new Jar()
  const { res, url } = await follow(jar, `${d.url}login`)
  t.match(url, `${d.issuer}/interaction/`)
  const html = await res.text()
  for (const user of ['alice', 'bob', 'admin']) t.match(html, `Sign in as ${user}</button>`)
  const unknown = await jar.fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'user=mallory' })
  t.equal(unknown.status, 400)
  t.equal(await unknown.text(), 'unknown demo user')
  const none = await jar.fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' })
  t.equal(none.status, 400, 'no user named')
  const stale = await new Jar().fetch(`${url}/login`, { method: 'POST', body: 'user=alice' })
  t.equal(stale.status, 400, 'without the interaction cookie the provider refuses')
})

t.test('signed in: the page, its script, the session token (refreshed when near expiry), sign-out', async (t) => {
  const jar = await signIn(d, 'alice')
  const page = await (await jar.fetch(d.url)).text()
  t.match(page, 'Alice · tenant acme')
  t.match(page, '"feed":"/ws/prices/acme"')
  t.notMatch(page, /eyJ/, 'no token in the page')
  const script = await jar.fetch(`${d.url}app.js`)
  t.match(script.headers.get('content-type'), 'text/javascript')
  t.ok((await script.text()).length > 1000)
  t.equal((await jar.fetch(`${d.url}favicon.ico`)).status, 204)
  const first = await postJson(jar, d, '/session/token', { reason: 'connect' })
  t.equal(first.headers.get('cache-control'), 'no-store')
  const token = (await first.json() as { token: string }).token
  t.match(token, /^eyJ/)
  // 2 s tokens are always "near expiry" (under 3 s left): even 'connect' gets a new one.
  const claims = (jwt: string): { tenant: string, roles: string[], jti: string } => JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString())
  const second = await accessToken(jar, d)
  t.not(claims(second).jti, claims(token).jti)
  t.match(claims(second), { tenant: 'acme', roles: ['trader'] })
  const noBody = await jar.fetch(`${d.url}session/token`, { method: 'POST', headers: { origin } })
  t.equal(noBody.status, 200, 'no body: a refresh')
  const looked = await jar.fetch(`${d.url}logout`)
  t.match(await looked.text(), '<form method="post" action="/logout"', 'GET /logout only shows the button')
  t.equal((await postJson(jar, d, '/session/token', { reason: 'connect' })).status, 200, 'still signed in after the GET')
  const foreign = await jar.fetch(`${d.url}logout`, { method: 'POST', headers: { origin: 'https://evil.test' } })
  t.equal(foreign.status, 403, 'a cross-site POST is refused')
  t.equal((await postJson(jar, d, '/session/token', { reason: 'connect' })).status, 200, 'still signed in after it')
  const out = await jar.fetch(`${d.url}logout`, { method: 'POST', headers: { origin } })
  t.equal(out.status, 303)
  t.equal((await postJson(jar, d, '/session/token', { reason: 'connect' })).status, 401)
  t.equal((await new Jar().fetch(`${d.url}logout`, { method: 'POST', headers: { origin } })).status, 303, 'signing out signed out is fine')
  // Still signed in at the provider (its own session): signing in again needs no click.
  const again = await follow(jar, `${d.url}login`)
  t.equal(again.url, d.url)
  t.match(await again.res.text(), 'Alice · tenant acme')
})

t.test('the session token is for the app\'s own page only', async (t) => {
  const jar = await signIn(d, 'bob')
  const res = await postJson(jar, d, '/session/token', { reason: 'connect' }, 'http://evil.test')
  t.equal(res.status, 403)
  t.same(await res.json(), { error: 'cross-origin' })
  t.equal((await jar.fetch(`${d.url}session/token`, { method: 'POST' })).status, 403, 'no Origin: refused too')
})

t.test('the provider refuses an authorization request without PKCE, even from the confidential web app', async (t) => {
  const query = new URLSearchParams({ client_id: 'demo-web', response_type: 'code', scope: 'openid prices:read', redirect_uri: `${origin}/callback`, state: 's' })
  const res = await fetch(`${d.issuer}/auth?${query.toString()}`, { redirect: 'manual' })
  const back = new URL(res.headers.get('location') as string)
  t.equal(`${back.origin}${back.pathname}`, `${origin}/callback`)
  t.match(Object.fromEntries(back.searchParams), { error: 'invalid_request', error_description: /requires PKCE/ })
})

t.test('a callback that was not started here is refused', async (t) => {
  const res = await new Jar().fetch(`${d.url}callback?code=x&state=y`)
  t.equal(res.status, 400)
  t.match(await res.text(), 'Sign-in failed')
  const jar = new Jar()
  await jar.fetch(`${d.url}login`)
  t.equal((await jar.fetch(`${d.url}callback?state=nope`)).status, 400, 'a state that does not match')
  t.equal((await jar.fetch(`${d.url}callback?state=nope`)).status, 400, 'and the sign-in is used up')
})

t.test('a code the provider refuses fails the callback (500), naming no code', async (t) => {
  const jar = new Jar()
  const login = await jar.fetch(`${d.url}login`)
  const state = new URL(login.headers.get('location') as string).searchParams.get('state') as string
  const res = await jar.fetch(`${d.url}callback?code=forged&state=${state}`)
  t.equal(res.status, 500)
  t.notMatch(await res.text(), 'forged')
})

t.test('the admin pages: admins only, and revoking from the app\'s own page only', async (t) => {
  const alice = await signIn(d, 'alice')
  t.equal((await alice.fetch(`${d.url}admin`)).status, 403)
  t.equal((await alice.fetch(`${d.url}admin/sessions`)).status, 403)
  t.equal((await postJson(alice, d, '/admin/revoke', { subject: 'bob' })).status, 403)
  const admin = await signIn(d, 'admin')
  const page = await (await admin.fetch(`${d.url}admin`)).text()
  t.match(page, 'Revoke alice')
  t.notMatch(page, 'Revoke admin', 'no button to revoke oneself')
  t.same(await (await admin.fetch(`${d.url}admin/sessions`)).json(), [], 'no socket open')
  t.equal((await postJson(admin, d, '/admin/revoke', { subject: 'bob' }, 'http://evil.test')).status, 403)
  t.equal((await postJson(admin, d, '/admin/revoke', { subject: 'mallory' })).status, 400)
  t.equal((await postJson(admin, d, '/admin/revoke', { subject: 42 })).status, 400)
  t.equal((await admin.fetch(`${d.url}admin/revoke`, { method: 'POST', headers: { origin } })).status, 400, 'no body')
  const res = await postJson(admin, d, '/admin/revoke', { subject: 'alice' })
  t.same(await res.json(), { closed: 0 })
  t.equal((await postJson(alice, d, '/session/token', { reason: 'connect' })).status, 401, 'alice is signed out of the app')
})

t.test('another host name for the same server is sent to the one the API allows; unknown paths answer a bare 404', async (t) => {
  const { port } = new URL(d.url)
  const location = await new Promise<string | undefined>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/ws/prices/acme?ticket=SECRET', headers: { host: `localhost:${port}` } }, (res) => {
      res.resume()
      resolve(res.headers.location)
    }).on('error', reject).end()
  })
  t.equal(location, `${origin}/ws/prices/acme`, 'the path only: a ticket in the query is not repeated in the Location')
  const res = await fetch(`${d.url}nothing?ticket=abc`)
  t.equal(res.status, 404)
  t.notMatch(await res.text(), 'abc', 'the URL is not repeated')
})

t.test('the port: another one when it is taken; a bad one fails and leaves nothing open', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => holder.close())
  const port = (holder.address() as { port: number }).port
  const other = await demo(t, { port })
  t.equal(other.portTaken, true)
  t.not(new URL(other.url).port, String(port))
  t.equal((await fetch(other.url)).status, 200)
  await t.rejects(startDemo({ port: 99999 }), { code: 'ERR_SOCKET_BAD_PORT' })
})
