import type { IncomingHttpHeaders } from 'node:http'
import WebSocket from 'ws'

/** A handshake's answer: the 101 (the socket is then cut), or the refusal with its body. */
export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  /** the response body of a refusal; '' for a 101 */
  body: string
}

/**
 * Sends one WebSocket handshake with exactly these headers (`ws` adds only its own upgrade
 * headers; no subprotocol list of its own, so it never second-guesses the answer) and
 * resolves with the server's answer. A 101 is cut off at once: what is tested is the answer.
 */
export function handshake (
  url: string, headers: Record<string, string | string[]>, teardown: (fn: () => void) => void
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    teardown(() => ws.terminate())
    let answered = false
    ws.on('upgrade', (res) => {
      answered = true
      resolve({ status: res.statusCode as number, headers: res.headers, body: '' })
      ws.terminate()
    })
    ws.on('unexpected-response', (_req, res) => {
      answered = true
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, body }))
    })
    // Cutting a 101 off makes ws report an error; before any answer, an error is the test's.
    ws.on('error', (err) => { if (!answered) reject(err) })
  })
}
