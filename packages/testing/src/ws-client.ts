import type { IncomingHttpHeaders } from 'node:http'
import WebSocket from 'ws'

/** How long a test waits for a frame or a close before it fails (rather than hang until tap's timeout), ms. */
export const SOCKET_WAIT_MS = 15_000

/** `promise`, or a rejection naming `what` after `SOCKET_WAIT_MS`; a rejection nobody awaits is no crash. */
function bounded<T> (promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no ${what} within ${SOCKET_WAIT_MS} ms`)) }, SOCKET_WAIT_MS).unref()
  })
  const raced = Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
  raced.catch(() => {})
  return raced
}

/** An open test socket: frames queue up until asked for, so none is missed. */
export interface SocketClient {
  ws: WebSocket
  /** the next text frame, parsed as JSON when it is JSON; rejects after `SOCKET_WAIT_MS` */
  next(): Promise<unknown>
  /** resolves when the socket closes, with the close code and reason; rejects `SOCKET_WAIT_MS` after it is read */
  readonly closed: Promise<{ code: number, reason: string }>
  /** sends a string as is, anything else as JSON */
  send(data: unknown): void
  /** sends and waits for the next frame, so the server has seen the first */
  ask(data: unknown): Promise<unknown>
}

/** A handshake refused with a plain HTTP answer. */
export interface Refusal {
  refused: true
  status: number
  body: Record<string, unknown>
  headers: IncomingHttpHeaders
}

export interface SocketOptions {
  /** sent as `Authorization: Bearer <token>` */
  token?: string
  /** anything else `ws` takes (origin, autoPong, …) */
  client?: WebSocket.ClientOptions
  /** called with a function that terminates the socket; pass tap's `t.teardown` */
  teardown?: (fn: () => void) => void
}

/** Opens a real WebSocket; resolves once open, or with the HTTP refusal. Other errors reject. */
export function connectSocket (url: string, options: SocketOptions = {}): Promise<SocketClient | Refusal> {
  return new Promise((resolve, reject) => {
    const headers = { ...(options.client?.headers ?? {}), ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }) }
    const ws = new WebSocket(url, { ...options.client, headers })
    options.teardown?.(() => ws.terminate())
    const queue: unknown[] = []
    const waiters: Array<(m: unknown) => void> = []
    ws.on('message', (data) => {
      const text = String(data)
      let m: unknown = text
      try { m = JSON.parse(text) } catch {}
      const w = waiters.shift()
      if (w !== undefined) w(m)
      else queue.push(m)
    })
    const next = (): Promise<unknown> => {
      if (queue.length > 0) return Promise.resolve(queue.shift())
      let waiter!: (m: unknown) => void
      const frame = bounded(new Promise((resolve) => { waiter = resolve; waiters.push(resolve) }), 'frame')
      // A wait that timed out gives up its place: the next frame goes to the next caller, not to nobody.
      frame.catch(() => { const i = waiters.indexOf(waiter); if (i !== -1) waiters.splice(i, 1) })
      return frame
    }
    const closed = new Promise<{ code: number, reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })))
    const send = (data: unknown): void => ws.send(typeof data === 'string' ? data : JSON.stringify(data))
    ws.on('open', () => resolve({
      ws,
      next,
      // Bounded from when it is read (awaited), so a socket may stay open as long as a test needs.
      get closed () { return bounded(closed, 'close') },
      send,
      ask: (data) => { send(data); return next() }
    }))
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ refused: true, status: res.statusCode as number, body: JSON.parse(body), headers: res.headers }))
    })
    ws.on('error', reject)
  })
}

/** Like `connectSocket`, but a refusal is an error. */
export async function openSocket (url: string, options: SocketOptions = {}): Promise<SocketClient> {
  const c = await connectSocket(url, options)
  if ('refused' in c) throw new Error(`handshake refused: ${c.status} ${String(c.body.code)}`)
  return c
}
