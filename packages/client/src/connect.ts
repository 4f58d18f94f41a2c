import { backoffDelay, hintedDelayMs } from './backoff.js'
import { CredentialError, credentialEntry, entry } from './credential.js'
import { ECHO_CLOSE_CODE, ECHO_REASON } from './echo.js'
import { invalidOption, MAX_HINTED_DELAY_MS, resolveOptions } from './options.js'
import type { ClientEvent, ConnectOptions, Connection, ConnectionState, GetToken, SendData, TokenReason } from './types.js'

const OPEN = 1

/** Close codes after which the client reconnects at once (with a little jitter) if the socket had been stable. */
const PROMPT = new Set([1001, 4401, 4409])

/** `connect()` with the platform's WebSocket class as the default. */
export function open (options: ConnectOptions, defaultWebSocket: typeof WebSocket | undefined): Connection {
  const o = resolveOptions(options, defaultWebSocket)
  const { clock, messages: names } = o
  const topics = new Set(o.topics)
  let state: ConnectionState = 'connecting'
  let socket: WebSocket | null = null
  let timer: unknown
  /** consecutive failures since the last stable socket: the backoff's exponent */
  let failures = 0
  let openedAt = 0
  /** the next token must be a new one (after 4401, or a ticket request refused 401) */
  let reason: TokenReason = 'connect'
  /** the socket a refresh is being fetched for: one at a time per socket, and a fetch that never settles holds up no later socket */
  let refreshing: WebSocket | null = null
  /** the socket whose refresh the server has not answered yet: no second one is sent on it */
  let unanswered: WebSocket | null = null
  /** the socket whose server answered WSG_RATE_LIMITED: one more refresh there could be its 4400 */
  let limited: WebSocket | null = null
  /** An app's onEvent that throws is reported as uncaught, never left to stop the reconnect logic midway. */
  const emit = (event: ClientEvent): void => {
    try {
      o.onEvent(event)
    } catch (error) {
      queueMicrotask(() => { throw error })
    }
  }
  /** read through a call: an await may have let close() run */
  const stopped = (): boolean => state === 'stopped'

  /** the credential steps under way: close() aborts them */
  const steps = new Set<AbortController>()
  /**
   * A credential step, aborted (its fetch cancelled, nothing sent after it) once
   * credentialTimeoutMs have passed or close() is called: one that never settles holds nothing up.
   */
  const bounded = async <T>(step: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const c = new AbortController()
    const t = clock.setTimer(() => { c.abort(new CredentialError(`no credential within ${o.credentialTimeoutMs} ms`)) }, o.credentialTimeoutMs)
    steps.add(c)
    try {
      return await Promise.race([step(c.signal), new Promise<never>((_resolve, reject) => { c.signal.onabort = () => { reject(c.signal.reason) } })])
    } finally {
      clock.clearTimer(t)
      steps.delete(c)
    }
  }

  const backoff = (): number => backoffDelay(failures++, o.baseDelayMs, o.maxDelayMs, o.random)

  // Every path that emits an event and goes on reads stopped() after it: the app's handler may
  // have called close(), and nothing may dial, fetch a credential or arm a timer after that.
  function retry (delayMs: number, code?: number): void {
    if (stopped()) return
    state = 'waiting'
    timer = clock.setTimer(() => { timer = undefined; dial() }, delayMs)
    emit(code === undefined ? { type: 'retrying', delayMs } : { type: 'retrying', delayMs, code })
  }

  async function dial (): Promise<void> {
    state = 'connecting'
    emit({ type: 'connecting', attempt: failures })
    if (stopped()) return
    let ws: WebSocket
    let entry: string | undefined
    try {
      entry = await bounded(async (signal) => await credentialEntry(o, reason, signal))
      if (stopped()) return
      ws = new o.WebSocket(o.url, entry === undefined ? o.protocols : [...o.protocols, entry])
    } catch (error) {
      if (stopped()) return
      reason = error instanceof CredentialError && error.status === 401 ? 'expired' : 'connect'
      emit({ type: 'credential-failed', error })
      return retry(backoff())
    }
    reason = 'connect'
    socket = ws
    ws.binaryType = 'arraybuffer'
    ws.onopen = () => {
      // A server that selects the credential as its subprotocol would put it in `ws.protocol`,
      // and from there in the `connected` event apps log: the socket is not kept, nothing
      // carries the entry, and the next attempt backs off as after any failure.
      if (entry !== undefined && ws.protocol === entry) return refuseEcho(ws)
      state = 'open'
      openedAt = clock.now()
      for (const topic of topics) ws.send(o.subscribeMessage(topic))
      emit({ type: 'connected', protocol: ws.protocol })
    }
    ws.onmessage = (event: { data: unknown }) => { onMessage(ws, event.data as string | ArrayBuffer) }
    ws.onclose = (event: { code: number, reason: string }) => { onClose(event.code, event.reason) }
    ws.onerror = () => {} // a close event follows; the error says no more than it
  }

  function refuseEcho (ws: WebSocket): void {
    ws.onclose = ws.onmessage = ws.onopen = null
    socket = null
    ws.close(ECHO_CLOSE_CODE, ECHO_REASON)
    emit({ type: 'closed', code: ECHO_CLOSE_CODE, reason: ECHO_REASON })
    retry(backoff(), ECHO_CLOSE_CODE)
  }

  // close() detaches a socket's handlers, so only the current socket gets here
  function onClose (code: number, why: string): void {
    socket = null
    const stable = state === 'open' && clock.now() - openedAt >= o.stableAfterMs
    if (stable) failures = 0
    emit({ type: 'closed', code, reason: why })
    if (stopped()) return
    if (code === 4403 || code === 4400) return stop(code === 4403 ? 'revoked' : 'bad-control-message', code, why)
    if (code === 4401) reason = 'expired'
    const hinted = code === 4429 ? Math.min(hintedDelayMs(why) ?? o.rateLimitedDelayMs, Math.max(MAX_HINTED_DELAY_MS, o.rateLimitedDelayMs)) : undefined
    // A 4429 on a socket that was not stable backs off too (at least the hint): a server
    // closing each socket at once with a hint of 0 must not keep the client redialling.
    const delayMs = hinted !== undefined
      ? Math.max(hinted, stable ? 0 : backoff()) + o.random() * o.promptJitterMs
      : PROMPT.has(code) && stable ? o.random() * o.promptJitterMs : backoff()
    retry(delayMs, code)
  }

  function onMessage (ws: WebSocket, data: string | ArrayBuffer): void {
    const message = typeof data === 'string' && data[0] === '{' && Object.values(names).some((name) => data.includes(`"${name}"`))
      ? parse(data)
      : undefined
    switch (message?.type) {
      case names.expiring:
        emit({ type: 'expiring', expiresAt: number(message.expiresAt), deadline: number(message.deadline) })
        if (!stopped()) refresh(ws)
        return
      case names.refreshed:
        if (ws === unanswered) unanswered = null
        return emit({ type: 'refreshed', expiresAt: number(message.expiresAt) })
      case names.refreshFailed:
        if (ws === unanswered) unanswered = null
        // Past the limit the server drops further refreshes unanswered and closes 4400 at twice
        // it: this socket sends no more (it is closed 4401 at its deadline, and reconnects).
        if (message.code === 'WSG_RATE_LIMITED') limited = ws
        return emit({ type: 'refresh-failed', code: typeof message.code === 'string' ? message.code : undefined })
      case names.topicRevoked:
        if (typeof message.topic === 'string') {
          // Another action taken away (publish, say) leaves the subscription standing.
          const action = typeof message.action === 'string' ? message.action : undefined
          if (action === undefined || action === 'subscribe') topics.delete(message.topic)
          return emit(action === undefined ? { type: 'topic-revoked', topic: message.topic } : { type: 'topic-revoked', topic: message.topic, action })
        }
    }
    o.onMessage?.(data)
  }

  async function refresh (ws: WebSocket): Promise<void> {
    // One at a time, none while the server has not answered the last, and none once it said
    // WSG_RATE_LIMITED: notices and answers that are not the server's (an app relaying other
    // clients' frames) cannot make the client send refresh after refresh into a 4400 that stops it.
    if (o.getToken === undefined || ws === refreshing || ws === unanswered || ws === limited) return
    refreshing = ws
    try {
      const token = await bounded(async () => await (o.getToken as GetToken)({ reason: 'refresh' }))
      // The same check as at the handshake: a value no handshake could carry is refused unread.
      entry('', token, 'getToken() result')
      if (ws === socket && ws.readyState === OPEN) {
        ws.send(JSON.stringify({ type: names.refresh, token }))
        unanswered = ws
      }
    } catch (error) {
      if (!stopped()) emit({ type: 'refresh-failed', error })
    } finally {
      if (refreshing === ws) refreshing = null
    }
  }

  function stop (cause: 'revoked' | 'bad-control-message' | 'closed', code: number, why: string): void {
    state = 'stopped'
    for (const c of steps) c.abort()
    if (timer !== undefined) clock.clearTimer(timer)
    timer = undefined
    emit({ type: 'stopped', cause, code, reason: why })
  }

  const sendOpen = (data: SendData): boolean => {
    if (socket === null || socket.readyState !== OPEN) return false
    socket.send(data)
    return true
  }

  dial() // it catches its own failures
  return {
    get state () { return state },
    get topics () { return [...topics] },
    send: sendOpen,
    subscribe (topic) {
      if (typeof topic !== 'string' || topic === '') throw invalidOption('subscribe(topic): the topic must be a non-empty string')
      if (topics.has(topic)) return
      topics.add(topic)
      sendOpen(o.subscribeMessage(topic))
    },
    unsubscribe (topic) {
      if (topics.delete(topic)) sendOpen(o.unsubscribeMessage(topic))
    },
    close (code = 1000, why = '') {
      if (code !== 1000 && (code < 3000 || code > 4999)) throw invalidOption('close(code): the code must be 1000 or 3000-4999')
      if (stopped()) return
      const ws = socket
      socket = null
      if (ws !== null) {
        ws.onclose = ws.onmessage = ws.onopen = null
        ws.close(code, why)
      }
      stop('closed', code, why)
    }
  }
}

/** A frame that starts with `{` parses to an object, or not at all. */
function parse (text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    return undefined
  }
}

const number = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined)
