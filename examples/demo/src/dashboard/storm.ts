import WebSocket from 'ws'

/** The most sockets one storm opens. */
export const MAX_STORM_COUNT = 500
/** The longest one storm lasts, and the longest it waits on any one socket. */
export const MAX_STORM_MS = 30_000

export interface StormOptions {
  /** a websocket route of the app, `ws://…` */
  url: string
  /**
   * The credential of the one principal the storm connects as, sent as
   * `Authorization: Bearer …`; called once per storm. Never logged or returned.
   */
  getCredential?: () => string | Promise<string>
  /** subprotocols to offer (e.g. the app's protocol) */
  protocols?: string[]
  /** the `Origin` header to send, for an app that checks it */
  origin?: string
  /** how many sockets to open and close, one after the other; default 40, at most 500 */
  count?: number
  /** the whole storm stops starting sockets after this long, ms; default 10000, at most 30000 */
  timeoutMs?: number
}

export interface StormResult {
  /** handshakes attempted */
  attempted: number
  /** sockets that opened (and were closed at once) */
  opened: number
  /** handshakes answered with an HTTP status instead of 101, by status */
  refused: Record<string, number>
  /** sockets that failed otherwise (network error, timeout) */
  failed: number
}

type Attempt = { outcome: 'opened' } | { outcome: 'refused', status: number } | { outcome: 'failed' }

function attempt (url: string, protocols: string[], options: WebSocket.ClientOptions, deadline: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, options)
    let outcome: Attempt = { outcome: 'failed' }
    const timer = setTimeout(() => ws.terminate(), Math.max(0, deadline - Date.now()))
    const done = (): void => { clearTimeout(timer); resolve(outcome) }
    ws.on('open', () => { outcome = { outcome: 'opened' }; ws.close(1000, 'storm') })
    ws.on('unexpected-response', (_request, response) => {
      outcome = { outcome: 'refused', status: response.statusCode as number }
      response.resume()
      ws.terminate()
    })
    ws.on('error', () => {}) // the outcome says what happened; 'close' follows every error
    ws.on('close', done)
  })
}

/**
 * A reconnect storm, as a client with a broken retry loop makes one: `count` sockets opened
 * one right after the other as one principal, each closed (1000) as soon as it opens. Bounded
 * in count and in time. With telemetry's per-principal gate set below `count`, its
 * `reconnect-storm` anomaly fires (and with `action: 'throttle'` the rest are refused 429).
 */
export async function reconnectStorm (options: StormOptions): Promise<StormResult> {
  const count = options.count ?? 40
  const timeoutMs = options.timeoutMs ?? 10_000
  if (!Number.isInteger(count) || count < 1 || count > MAX_STORM_COUNT) throw new RangeError(`count must be an integer from 1 to ${MAX_STORM_COUNT}`)
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_STORM_MS) throw new RangeError(`timeoutMs must be an integer from 1 to ${MAX_STORM_MS}`)
  const credential = options.getCredential === undefined ? undefined : await options.getCredential()
  const headers: Record<string, string> = credential === undefined ? {} : { authorization: `Bearer ${credential}` }
  const clientOptions: WebSocket.ClientOptions = { headers, handshakeTimeout: timeoutMs, ...(options.origin === undefined ? {} : { origin: options.origin }) }
  const result: StormResult = { attempted: 0, opened: 0, refused: {}, failed: 0 }
  const deadline = Date.now() + timeoutMs
  while (result.attempted < count && Date.now() < deadline) {
    result.attempted++
    const a = await attempt(options.url, options.protocols ?? [], clientOptions, deadline)
    if (a.outcome === 'opened') result.opened++
    else if (a.outcome === 'refused') result.refused[a.status] = (result.refused[a.status] ?? 0) + 1
    else result.failed++
  }
  return result
}
