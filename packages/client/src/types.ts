/** Why the client asks the app for a token. */
export type TokenReason =
  /** a first connection, or a reconnect after anything but 4401 */
  | 'connect'
  /** the server closed 4401 (or refused a ticket request 401): the last token aged out, do not hand it back */
  | 'expired'
  /** the server sent `auth.expiring`: the token goes into `auth.refresh` on the open socket */
  | 'refresh'

/** The app's token provider: an access token (a JWT), fresh enough for the server to accept. */
export type GetToken = (context: { reason: TokenReason }) => string | Promise<string>

/**
 * A time source that can wake the client up; `FakeClock` of `@wsguard/testing` is one.
 * The client reads `now()` to tell how long a socket stayed open.
 */
export interface ClientClock {
  /** ms since epoch */
  now(): number
  setTimer(fn: () => void, delayMs: number): unknown
  clearTimer(handle: unknown): void
}

/** The names of the control messages; the same as session-expiry's `messages` option. */
export interface ControlMessageNames {
  /** server → client, default `auth.expiring` */
  expiring?: string
  /** client → server, default `auth.refresh` */
  refresh?: string
  /** server → client, default `auth.refreshed` */
  refreshed?: string
  /** server → client, default `auth.refresh_failed` */
  refreshFailed?: string
  /** server → client, default `topic.revoked` */
  topicRevoked?: string
}

/** What the client tells the app, for its UI and logs. No event ever holds a credential. */
export type ClientEvent =
  /** a credential is being fetched and a socket opened; `attempt` counts the failures before it (0 after a good connection) */
  | { type: 'connecting', attempt: number }
  /** the socket is open; `protocol` is the subprotocol the server selected */
  | { type: 'connected', protocol: string }
  /** the server warned that the credential expires (`expiresAt`, ms) and the socket closes at `deadline` (ms) unless refreshed */
  | { type: 'expiring', expiresAt?: number, deadline?: number }
  /** the in-band refresh succeeded on the same socket; the credential now expires at `expiresAt` (ms) */
  | { type: 'refreshed', expiresAt?: number }
  /** the server refused the refresh (`code`, a `WSG_*` code), or getToken() failed (`error`); the old deadline stands */
  | { type: 'refresh-failed', code?: string, error?: unknown }
  /**
   * a refresh narrowed the grants: the server dropped `action` on `topic` (a server that names
   * no action means all of them); unless that action is other than `subscribe`, the client no
   * longer re-subscribes the topic
   */
  | { type: 'topic-revoked', topic: string, action?: string }
  /** getToken() or the ticket request failed before a socket was opened; a retry follows */
  | { type: 'credential-failed', error: unknown }
  /** the socket closed (1006: refused before the upgrade, unreachable, or cut off) */
  | { type: 'closed', code: number, reason: string }
  /** the next attempt starts in `delayMs`; `code` is the close code that led here, if a socket closed */
  | { type: 'retrying', delayMs: number, code?: number }
  /**
   * the client stopped for good: `revoked` (4403), `bad-control-message` (4400: a bug not to
   * loop on), or `closed` (the app called `close()`)
   */
  | { type: 'stopped', cause: 'revoked' | 'bad-control-message' | 'closed', code: number, reason: string }

/** Data a socket can send. */
export type SendData = Parameters<WebSocket['send']>[0]

export interface ConnectOptions {
  /** `ws:` or `wss:` URL of the websocket route; relative to the page in a browser */
  url: string | URL
  /**
   * The app's own subprotocols, offered before the credential entry; the server selects one
   * of them. Required (at least one) when a token or ticket goes in a subprotocol entry: the
   * server never selects the credential entry, and a client that offered protocols fails on an
   * answer that selects none. Default `[]`.
   */
  protocols?: string[]
  /** The app's token provider; its token goes in a `bearer.<token>` entry, or into the ticket request. */
  getToken?: GetToken
  /**
   * Exchange the credential for a one-time ticket first: `POST ticketUrl` with
   * `Authorization: Bearer <token>` (or the page's cookies, without getToken) and
   * `{"path": <the url's pathname>}`; the answer's `ticket` goes in a `ticket.<ticket>` entry.
   */
  ticketUrl?: string | URL
  /** Topics subscribed on every connection (again after each reconnect). Default `[]`. */
  topics?: string[]
  /** The frame that subscribes a topic. Default `{"type":"subscribe","topic":…}`. */
  subscribeMessage?: (topic: string) => string
  /** The frame that unsubscribes a topic. Default `{"type":"unsubscribe","topic":…}`. */
  unsubscribeMessage?: (topic: string) => string
  /** Every event, in order. */
  onEvent?: (event: ClientEvent) => void
  /** Every frame that is not a control message: text as a string, binary as an ArrayBuffer. */
  onMessage?: (data: string | ArrayBuffer) => void
  /** Backoff after a failure: a random delay in [0, min(maxDelayMs, baseDelayMs × 2^failures)]. Default 1000. */
  baseDelayMs?: number
  /** The cap of the backoff. Default 30000. */
  maxDelayMs?: number
  /** After 1001, 4401 and 4409: reconnect within a random [0, promptJitterMs], so a fleet does not stampede. Default 1000. */
  promptJitterMs?: number
  /** After 4429 without a `retry-after` hint in the close reason. Default 30000 (session-expiry's `maxSessionsRetryAfterMs`). */
  rateLimitedDelayMs?: number
  /** A socket open this long counts as a success: the failure count goes back to 0. Default 5000. */
  stableAfterMs?: number
  /**
   * How long `getToken()` and the ticket request may take, together, before the attempt counts
   * as failed (`credential-failed`, then the backoff); for a refresh, `refresh-failed`. Default 10000.
   */
  credentialTimeoutMs?: number
  /** The bearer entry's prefix; auth-handshake's `subprotocolPrefix`. Default `bearer.`. */
  subprotocolPrefix?: string
  /**
   * Send the credential over `ws:` and `http:` to another machine too. Default `false`: with
   * `getToken` or `ticketUrl`, a URL that is not `wss:`/`https:` and not this machine
   * (`localhost`, 127.0.0.0/8, `[::1]`) is refused (a TypeError, `WSG_INVALID_OPTION`),
   * as a bearer token in clear is anyone's on the path. For networks that encrypt themselves.
   */
  allowInsecure?: boolean
  /** Control message names, if the server renamed them. */
  messages?: ControlMessageNames
  /** The WebSocket class. Default: the global one (browsers), `ws` (Node). */
  WebSocket?: typeof WebSocket
  /** Default: the global `fetch`. */
  fetch?: typeof fetch
  /** Default: `Date.now`, `setTimeout`, `clearTimeout`. */
  clock?: ClientClock
  /** Uniform in [0, 1), for the jitter. Default `Math.random`. */
  random?: () => number
}

/** Where a connection stands. */
export type ConnectionState = 'connecting' | 'open' | 'waiting' | 'stopped'

/** What `connect()` returns. */
export interface Connection {
  readonly state: ConnectionState
  /** the topics re-subscribed on each connection */
  readonly topics: readonly string[]
  /** Sends on the open socket; `false` (nothing sent) when none is open. */
  send(data: SendData): boolean
  /** Adds a topic: subscribed now if a socket is open, and on every connection after. */
  subscribe(topic: string): void
  /** Removes a topic: unsubscribed now if a socket is open. */
  unsubscribe(topic: string): void
  /** Stops for good: closes the socket (default 1000) and cancels any retry. */
  close(code?: number, reason?: string): void
}

export interface CredentialWebSocketOptions {
  /**
   * Called for each new socket. A synchronous token is used at once; an async one (or a
   * ticket) needs `prepare(url)` before each socket: see `CredentialWebSocketClass`.
   */
  getToken?: GetToken
  /** As in `connect()`: a one-time ticket per socket, fetched by `prepare(url)`. */
  ticketUrl?: string | URL
  /**
   * Offered after the framework's own and before the credential entry. tRPC offers none:
   * give one here (e.g. `['trpc']`), or the server selects none and the client fails.
   */
  protocols?: string[]
  /** Default `bearer.`. */
  subprotocolPrefix?: string
  /**
   * Send the credential over `ws:` and `http:` to another machine too. Default `false`: with
   * `getToken` or `ticketUrl`, a URL that is not `wss:`/`https:` and not this machine
   * (`localhost`, 127.0.0.0/8, `[::1]`) is refused (a TypeError, `WSG_INVALID_OPTION`),
   * as a bearer token in clear is anyone's on the path. For networks that encrypt themselves.
   */
  allowInsecure?: boolean
  /** The class to extend. Default: the global WebSocket (browsers), `ws` (Node). */
  WebSocket?: typeof WebSocket
  /** Default: the global `fetch`. */
  fetch?: typeof fetch
}

/**
 * A WebSocket class that adds the credential entry to the subprotocols of each socket it
 * makes. `prepare(url)` fetches the credential for the next socket (an async getToken, or a
 * ticket) and resolves with `url`: pass `url: () => Class.prepare(url)` to graphql-ws and tRPC,
 * which both await a `url` function right before they construct the socket. Only a socket for
 * that URL carries it: one for another URL throws, and the prepared credential is dropped.
 */
export type CredentialWebSocketClass = typeof WebSocket & {
  prepare(url: string | URL): Promise<string>
}
