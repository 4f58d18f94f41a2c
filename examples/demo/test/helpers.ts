// Node-side helpers: a demo per test, and a sign-in driven with fetch and a cookie jar (the
// same clicks a browser makes: the app's /login, the provider's page, its user button).
import type { Test } from 'tap'
import WebSocket from 'ws'
import { startDemo, type Demo, type DemoOptions } from '../src/server.js'

export async function demo (t: Test, options: Partial<DemoOptions> = {}): Promise<Demo> {
  const d = await startDemo({ port: 0, ...options })
  t.teardown(() => d.close())
  return d
}

/** Cookies by name, for one host (ports share cookies, as in a browser). */
export class Jar {
  readonly cookies = new Map<string, string>()
  take (res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const eq = pair.indexOf('=')
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1))
    }
  }

  get header (): string {
    return [...this.cookies].filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`).join('; ')
  }

  async fetch (url: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(url, { redirect: 'manual', ...init, headers: { cookie: this.header, ...init.headers as Record<string, string> } })
    this.take(res)
    return res
  }
}

/** Follows redirects by hand (keeping cookies) until a page answers; at most 10 hops. */
export async function follow (jar: Jar, url: string, init: RequestInit = {}): Promise<{ res: Response, url: string }> {
  let res = await jar.fetch(url, init)
  for (let hop = 0; hop < 10 && res.status >= 300 && res.status < 400; hop++) {
    url = new URL(res.headers.get('location') as string, url).href
    res = await jar.fetch(url)
  }
  return { res, url }
}

/** Signs `user` in to the demo at `d.url`; the jar then holds the app's session cookie. */
export async function signIn (d: Demo, user: string): Promise<Jar> {
  const jar = new Jar()
  const { url } = await follow(jar, `${d.url}login`)
  await follow(jar, `${url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `user=${user}` })
  if (!jar.cookies.has('demo_session')) throw new Error(`sign-in as ${user} failed`)
  return jar
}

/** POSTs JSON as the app's own page does (its Origin). */
export async function postJson (jar: Jar, d: Demo, path: string, body: unknown, origin = new URL(d.url).origin): Promise<Response> {
  return await jar.fetch(`${d.url}${path.slice(1)}`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify(body) })
}

/** The user's access token, from the app's session endpoint. */
export async function accessToken (jar: Jar, d: Demo, reason = 'connect'): Promise<string> {
  const res = await postJson(jar, d, '/session/token', { reason })
  return (await res.json() as { token: string }).token
}

/** A socket from Node with the token in a header; frames collected, parsed. */
export interface NodeSocket {
  ws: WebSocket
  frames: Array<Record<string, unknown>>
  /** resolves with the first frame (from now on, or already received) that matches */
  next(test: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
}

export async function openFeed (t: Test, d: Demo, path: string, token: string): Promise<NodeSocket> {
  const ws = new WebSocket(`${d.url.replace('http', 'ws')}${path.slice(1)}`, ['prices.v1'], { headers: { authorization: `Bearer ${token}` } })
  t.teardown(() => { ws.close() })
  const frames: Array<Record<string, unknown>> = []
  const waiting: Array<{ test: (f: Record<string, unknown>) => boolean, resolve: (f: Record<string, unknown>) => void }> = []
  ws.on('message', (raw) => {
    const frame = JSON.parse(String(raw)) as Record<string, unknown>
    frames.push(frame)
    for (const w of [...waiting]) if (w.test(frame)) { waiting.splice(waiting.indexOf(w), 1); w.resolve(frame) }
  })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  return {
    ws,
    frames,
    next: (test) => {
      const seen = frames.find(test)
      return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ test, resolve }))
    }
  }
}
