import WebSocket from 'ws'

/** What became of one upgrade attempt, as a client sees it. */
export type ProbeResult =
  | { kind: 'refused', status: number, code: unknown }
  /** the upgrade failed or the socket was cut before the server sent anything */
  | { kind: 'cut' }
  /** the server's first frame */
  | { kind: 'message', data: string }

/**
 * Attempts an upgrade and reports its outcome: an HTTP refusal (status, body `code`), a socket
 * cut before any frame, or the first frame the server sent. For routes whose handler sends at
 * once: a `message` means the app's handler ran for this client. Never rejects.
 */
export function probeUpgrade (url: string, headers: Record<string, string> = {}, teardown?: (fn: () => void) => void): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    teardown?.(() => ws.terminate())
    ws.on('message', (data) => { resolve({ kind: 'message', data: String(data) }); ws.terminate() })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => {
        let code: unknown
        try { code = (JSON.parse(body) as { code?: unknown }).code } catch {}
        resolve({ kind: 'refused', status: res.statusCode as number, code })
      })
    })
    ws.on('error', () => resolve({ kind: 'cut' }))
    ws.on('close', () => resolve({ kind: 'cut' }))
  })
}
