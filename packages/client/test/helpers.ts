// What the fake-clock tests share: a WebSocket class whose sockets the test opens, feeds and
// closes by hand, a seeded random source, and a client wired to both and to a FakeClock.
import { FakeClock, until } from '@wsguard/testing'
import { connect } from '../src/index.js'
import type { ClientEvent, ConnectOptions, Connection } from '../src/index.js'

/** One socket the client made; the test plays the server. */
export class FakeSocket {
  readonly url: string
  readonly protocols: string[]
  readonly sent: unknown[] = []
  readyState = 0
  binaryType = 'blob'
  /** what the client passed to close(), if it did */
  closedWith: { code?: number, reason?: string } | undefined
  onopen: ((event: unknown) => void) | null = null
  onmessage: ((event: { data: unknown }) => void) | null = null
  onclose: ((event: { code: number, reason: string }) => void) | null = null
  onerror: ((event: unknown) => void) | null = null

  #protocol = ''
  /** 'open' listeners added with addEventListener, called before onopen, as a browser's are when added first */
  readonly #openListeners: Array<(event: unknown) => void> = []

  constructor (url: string, protocols: string[]) {
    this.url = url
    this.protocols = protocols
  }

  /** the subprotocol the server selected (an accessor on the prototype, as the platform's is) */
  get protocol (): string { return this.#protocol }
  set protocol (selected: string) { this.#protocol = selected }

  /** The server selects `protocol` (through the base, past a subclass that only reads it). */
  select (protocol: string): void { this.#protocol = protocol }

  addEventListener (type: string, listener: (event: unknown) => void): void {
    if (type === 'open') this.#openListeners.push(listener)
  }

  /** The server accepts, selecting the first protocol offered. */
  accept (): void {
    this.readyState = 1
    this.#protocol = this.protocols[0] ?? ''
    this.opened()
  }

  /** The open event, as a browser dispatches it: listeners, then onopen, unless one stopped it. */
  opened (): void {
    let stopped = false
    const event = { stopImmediatePropagation () { stopped = true } }
    for (const listener of this.#openListeners) if (!stopped) listener(event)
    if (!stopped) this.onopen?.(event)
  }

  /** A frame from the server. */
  receive (data: unknown): void {
    this.onmessage?.({ data: typeof data === 'string' || data instanceof ArrayBuffer ? data : JSON.stringify(data) })
  }

  /** The server closes (or the handshake fails: 1006 without a reason). */
  drop (code: number, reason = ''): void {
    this.readyState = 3
    this.onerror?.({})
    this.onclose?.({ code, reason })
  }

  send (data: unknown): void {
    this.sent.push(data)
  }

  close (code?: number, reason?: string): void {
    this.closedWith = { code, reason }
    this.readyState = 2
  }
}

/** A WebSocket class whose every socket lands in `sockets`. */
export function fakeWebSocket (): { WebSocket: typeof WebSocket, sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = []
  class Recorded extends FakeSocket {
    constructor (url: string, protocols: string[] = []) {
      super(url, protocols)
      sockets.push(this)
    }
  }
  return { WebSocket: Recorded as unknown as typeof WebSocket, sockets }
}

/** mulberry32: a small seeded generator, uniform in [0, 1), so a spread is reproducible. */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Harness {
  client: Connection
  clock: FakeClock
  sockets: FakeSocket[]
  events: ClientEvent[]
  /** app frames the client handed on */
  messages: Array<string | ArrayBuffer>
  /** the reasons getToken() was called with, in order */
  tokenCalls: string[]
  /** resolves once the client has made `count` sockets (lets its awaits run) */
  socket (count: number): Promise<FakeSocket>
  /** events of one type */
  of<T extends ClientEvent['type']>(type: T): Array<Extract<ClientEvent, { type: T }>>
}

/**
 * A client on fake sockets and a FakeClock. getToken answers `token-1`, `token-2`, … unless
 * the options replace it; random is seeded. The client is closed in teardown.
 */
export function harness (t: { teardown (fn: () => void): void }, options: Partial<ConnectOptions> = {}): Harness {
  const clock = new FakeClock(1_000_000)
  const { WebSocket, sockets } = fakeWebSocket()
  const events: ClientEvent[] = []
  const messages: Array<string | ArrayBuffer> = []
  const tokenCalls: string[] = []
  const client = connect({
    url: 'wss://api.test/feed',
    protocols: ['feed.v1'],
    getToken: ({ reason }) => { tokenCalls.push(reason); return `token-${tokenCalls.length}` },
    WebSocket,
    clock,
    random: seeded(42),
    onMessage: (data) => messages.push(data),
    ...options,
    onEvent: (event) => { events.push(event); options.onEvent?.(event) }
  })
  t.teardown(() => { client.close() })
  return {
    client,
    clock,
    sockets,
    events,
    messages,
    tokenCalls,
    async socket (count) {
      await until(() => sockets.length >= count, `socket ${count} made`)
      return sockets[count - 1] as FakeSocket
    },
    of: (type) => events.filter((e) => e.type === type) as never
  }
}

/** The delay of the last `retrying` event. */
export function lastDelay (h: Harness): number {
  const retrying = h.of('retrying')
  const last = retrying[retrying.length - 1]
  if (last === undefined) throw new Error('no retrying event')
  return last.delayMs
}

/** Records events; `next(type)` resolves with the next event of that type to arrive. */
export function recorder (): {
  events: ClientEvent[]
  onEvent: (event: ClientEvent) => void
  next<T extends ClientEvent['type']>(type: T): Promise<Extract<ClientEvent, { type: T }>>
} {
  const events: ClientEvent[] = []
  const waiters: Array<{ type: string, resolve: (event: never) => void }> = []
  return {
    events,
    onEvent (event) {
      events.push(event)
      for (const w of waiters.filter((w) => w.type === event.type)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(event as never)
      }
    },
    next: async (type) => await new Promise((resolve) => { waiters.push({ type, resolve }) })
  }
}
