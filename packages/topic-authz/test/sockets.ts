import type { Test } from 'tap'
import type { IncomingHttpHeaders } from 'node:http'
import WebSocket from 'ws'

export type Opened =
  | { open: true, ws: WebSocket, ask: (message: unknown) => Promise<Record<string, unknown>> }
  | { open: false, status: number, headers: IncomingHttpHeaders, body: Record<string, unknown> }

/** Opens a real socket with a bearer token (or none); resolves once open, or with the HTTP refusal. */
export function open (t: Test, url: string, token?: string, origin?: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
      ...(origin === undefined ? {} : { origin })
    })
    t.teardown(() => ws.terminate())
    const replies: Array<(data: Record<string, unknown>) => void> = []
    ws.on('message', (data) => { replies.shift()?.(JSON.parse(String(data))) })
    const ask = (message: unknown): Promise<Record<string, unknown>> => new Promise((resolve) => {
      replies.push(resolve)
      ws.send(JSON.stringify(message))
    })
    ws.on('open', () => resolve({ open: true, ws, ask }))
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ open: false, status: res.statusCode as number, headers: res.headers, body: JSON.parse(body) }))
    })
    ws.on('error', reject)
  })
}
