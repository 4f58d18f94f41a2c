import type { ClientClock, ConnectOptions, ControlMessageNames, CredentialWebSocketOptions, GetToken } from './types.js'

export const DEFAULT_BASE_DELAY_MS = 1_000
export const DEFAULT_MAX_DELAY_MS = 30_000
export const DEFAULT_PROMPT_JITTER_MS = 1_000
export const DEFAULT_RATE_LIMITED_DELAY_MS = 30_000
/** The longest wait a 4429's hint can ask for, ms (one hour); `rateLimitedDelayMs` when the app set it longer. */
export const MAX_HINTED_DELAY_MS = 3_600_000
export const DEFAULT_STABLE_AFTER_MS = 5_000
export const DEFAULT_CREDENTIAL_TIMEOUT_MS = 10_000
export const DEFAULT_SUBPROTOCOL_PREFIX = 'bearer.'
/** The prefix of the ticket entry (auth-handshake's ticket carrier). */
export const TICKET_PREFIX = 'ticket.'
export const DEFAULT_MESSAGES: Readonly<Required<ControlMessageNames>> = Object.freeze({
  expiring: 'auth.expiring',
  refresh: 'auth.refresh',
  refreshed: 'auth.refreshed',
  refreshFailed: 'auth.refresh_failed',
  topicRevoked: 'topic.revoked'
})

/** `setTimeout` and `clearTimeout`, called through the global object (browsers insist on it). */
export const systemClock: ClientClock = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimer: (handle) => { clearTimeout(handle as number) }
}

/** The options after checking, with every default filled in. */
export interface Resolved {
  url: string
  /** the url's pathname: the `path` of a ticket request */
  path: string
  protocols: string[]
  getToken: GetToken | undefined
  ticketUrl: string | undefined
  topics: string[]
  subscribeMessage: (topic: string) => string
  unsubscribeMessage: (topic: string) => string
  onEvent: ((event: Parameters<NonNullable<ConnectOptions['onEvent']>>[0]) => void)
  onMessage: ((data: string | ArrayBuffer) => void) | undefined
  baseDelayMs: number
  maxDelayMs: number
  promptJitterMs: number
  rateLimitedDelayMs: number
  stableAfterMs: number
  credentialTimeoutMs: number
  subprotocolPrefix: string
  messages: Required<ControlMessageNames>
  WebSocket: typeof WebSocket
  fetch: typeof fetch
  clock: ClientClock
  random: () => number
}

/** What the checks throw: a TypeError with core's code for a bad option. */
export function invalidOption (message: string): TypeError {
  return Object.assign(new TypeError(`Invalid option: ${message}`), { code: 'WSG_INVALID_OPTION' })
}

export const isFunction = (value: unknown): boolean => typeof value === 'function'
/** A subprotocol is an RFC 6455 token: a non-empty run of these characters. */
export const isToken = (value: unknown): value is string => typeof value === 'string' && /^[\w!#$%&'*+.^`|~-]+$/.test(value)
const pageHref = (): string | undefined => (globalThis as { location?: { href?: string } }).location?.href

/** `options[name]`, or `fallback` when it is undefined; throws naming it when `test` fails. */
export function optional<T> (options: object, name: string, test: (value: unknown) => boolean, what: string, fallback: T): T {
  const value = (options as Record<string, unknown>)[name]
  if (value === undefined) return fallback
  if (!test(value)) throw invalidOption(`opts.${name} must be ${what}`)
  return value as T
}

// At most 2^31 - 1: a longer timer fires after 1 ms (a NaN fails both comparisons).
const duration = (options: object, name: string, fallback: number): number =>
  optional(options, name, (v) => typeof v === 'number' && v >= 0 && v < 2 ** 31, 'a number of ms, 0 to 2^31-1', fallback)

export const strings = (options: object, name: string, test: (v: unknown) => boolean, what: string): string[] =>
  [...optional<string[]>(options, name, (v) => Array.isArray(v) && v.every(test), what, [])]

/**
 * An absolute URL from a string or URL, relative to the page in a browser. A websocket URL may
 * be written http(s): (a relative one is, on its page), as browsers accept it.
 */
export function absoluteUrl (value: unknown, label: string, scheme: 'ws' | 'http'): URL {
  let url: URL | undefined
  try { url = new URL(String(value), pageHref()) } catch {}
  // http: becomes ws:, https: wss: (any other scheme is left as it is, and refused below)
  if (url !== undefined && scheme === 'ws') url.protocol = url.protocol.replace('http', 'ws')
  // A user or password in it would be quoted whole by the platform's errors (fetch refuses such
  // a URL), which reach the app's events and logs.
  if ((typeof value !== 'string' && !(value instanceof URL)) || (url?.protocol !== `${scheme}:` && url?.protocol !== `${scheme}s:`) || url.username + url.password !== '') {
    throw invalidOption(`${label} must be a ${scheme}: or ${scheme}s: URL, with no user or password`)
  }
  return url
}

/**
 * Whether a URL's host is this machine: `localhost`, 127.0.0.0/8 or `[::1]`. Not `*.localhost`:
 * browsers keep such names on this machine, but Node asks the system's resolver (DNS), whose
 * answer an attacker on the path can choose.
 */
export function isLoopback (url: URL): boolean {
  const host = url.hostname
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/**
 * Refuses a URL a credential (a token, or the ticket it buys) would cross in clear: `ws:` or
 * `http:` to another machine, unless the app said `allowInsecure: true`.
 */
export function checkTransport (url: URL, label: string, allowInsecure: boolean): void {
  if (allowInsecure || url.protocol === 'wss:' || url.protocol === 'https:' || isLoopback(url)) return
  throw invalidOption(`${label} would carry the credential in clear: use wss:/https: (or allowInsecure)`)
}

/** Checks `connect()`'s options once, before anything starts; throws a TypeError naming the option. */
export function resolveOptions (options: ConnectOptions, defaultWebSocket: typeof WebSocket | undefined): Resolved {
  const { WebSocket: WebSocketClass, fetch: fetchFn, subprotocolPrefix, protocols, getToken, ticketUrl, carries, checkUrl } = credentialOptions(options, defaultWebSocket)
  const url = absoluteUrl(options.url, 'opts.url', 'ws')
  checkUrl(url, 'opts.url')
  if (carries && protocols.length === 0) {
    throw invalidOption('opts.protocols must name at least one subprotocol of the app: the server selects it, never the credential entry')
  }
  const messages = { ...DEFAULT_MESSAGES, ...optional(options, 'messages', (v) => typeof v === 'object' && v !== null, 'an object', {}) }
  for (const [name, value] of Object.entries(messages)) {
    if (typeof value !== 'string' || value === '') throw invalidOption(`opts.messages.${name} must be a non-empty string`)
  }
  const baseDelayMs = duration(options, 'baseDelayMs', DEFAULT_BASE_DELAY_MS)
  const maxDelayMs = duration(options, 'maxDelayMs', DEFAULT_MAX_DELAY_MS)
  if (maxDelayMs < baseDelayMs) throw invalidOption('opts.maxDelayMs must be at least opts.baseDelayMs')
  return {
    url: url.href,
    path: url.pathname,
    protocols,
    getToken,
    ticketUrl,
    topics: [...new Set(strings(options, 'topics', (v) => typeof v === 'string' && v !== '', 'an array of non-empty strings'))],
    subscribeMessage: optional(options, 'subscribeMessage', isFunction, 'a function', (topic: string) => JSON.stringify({ type: 'subscribe', topic })),
    unsubscribeMessage: optional(options, 'unsubscribeMessage', isFunction, 'a function', (topic: string) => JSON.stringify({ type: 'unsubscribe', topic })),
    onEvent: optional(options, 'onEvent', isFunction, 'a function', () => {}),
    onMessage: optional(options, 'onMessage', isFunction, 'a function', undefined),
    baseDelayMs,
    maxDelayMs,
    promptJitterMs: duration(options, 'promptJitterMs', DEFAULT_PROMPT_JITTER_MS),
    rateLimitedDelayMs: duration(options, 'rateLimitedDelayMs', DEFAULT_RATE_LIMITED_DELAY_MS),
    stableAfterMs: duration(options, 'stableAfterMs', DEFAULT_STABLE_AFTER_MS),
    credentialTimeoutMs: duration(options, 'credentialTimeoutMs', DEFAULT_CREDENTIAL_TIMEOUT_MS),
    subprotocolPrefix,
    messages,
    WebSocket: WebSocketClass,
    fetch: fetchFn,
    clock: optional(options, 'clock', (v) => typeof v === 'object' && v !== null && ['now', 'setTimer', 'clearTimer'].every((m) => isFunction((v as Record<string, unknown>)[m])), 'an object with now(), setTimer() and clearTimer()', systemClock),
    random: optional(options, 'random', isFunction, 'a function returning a number in [0, 1)', Math.random)
  }
}

/** The options `connect()` and `credentialWebSocket()` share, checked. */
export function credentialOptions (options: CredentialWebSocketOptions, defaultWebSocket: typeof WebSocket | undefined): {
  protocols: string[]
  getToken: GetToken | undefined
  ticketUrl: string | undefined
  subprotocolPrefix: string
  WebSocket: typeof WebSocket
  fetch: typeof fetch
  /** whether a credential of ours is sent (getToken or ticketUrl), not only the page's cookies */
  carries: boolean
  /** refuses a socket URL the credential would cross in clear (checkTransport); nothing without one */
  checkUrl: (url: URL, label: string) => void
} {
  if (typeof options !== 'object' || options === null) throw invalidOption('opts must be an object')
  const WebSocketClass = optional(options, 'WebSocket', isFunction, 'a WebSocket class', defaultWebSocket)
  if (WebSocketClass === undefined) throw invalidOption('opts.WebSocket is required with no global WebSocket (on Node, pass ws)')
  const allowInsecure = optional(options, 'allowInsecure', (v) => typeof v === 'boolean', 'a boolean', false)
  const ticketUrl = options.ticketUrl === undefined ? undefined : absoluteUrl(options.ticketUrl, 'opts.ticketUrl', 'http')
  // The token (or the page's cookies) goes to the ticket endpoint.
  if (ticketUrl !== undefined) checkTransport(ticketUrl, 'opts.ticketUrl', allowInsecure)
  const protocols = strings(options, 'protocols', isToken, 'an array of subprotocol names (RFC 6455 tokens)')
  const getToken = optional<GetToken | undefined>(options, 'getToken', isFunction, 'a function', undefined)
  const carries = getToken !== undefined || ticketUrl !== undefined
  return {
    carries,
    checkUrl: (url, label) => { if (carries) checkTransport(url, label, allowInsecure) },
    protocols,
    getToken,
    ticketUrl: ticketUrl?.href,
    subprotocolPrefix: optional(options, 'subprotocolPrefix', isToken, 'a subprotocol prefix (RFC 6455 token characters)', DEFAULT_SUBPROTOCOL_PREFIX),
    WebSocket: WebSocketClass,
    // called through the global object: a browser's fetch refuses any other `this`
    fetch: optional<typeof fetch>(options, 'fetch', isFunction, 'a function', (input, init) => fetch(input, init))
  }
}
