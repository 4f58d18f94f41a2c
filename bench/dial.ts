// How the load client opens one connection, per protocol, and what it saw. Each carries the
// token the way that protocol's users do:
//   ws          `Authorization: Bearer` on the upgrade request; a refusal is an HTTP status
//   socket.io   socket.io-client, `transports: ['websocket']` (no long-polling), `auth: { token }`;
//               accepted on 'connect', refused on 'connect_error' (the io.use middleware said no)
//   graphql-ws  graphql-ws's own client on ws, the token in `connectionParams`; accepted on
//               connection_ack (after the connection_init round trip), refused by a close 4403
// Whatever the protocol, a connection is dropped the same way once the outcome is known: its
// TCP socket is destroyed (`terminate()` on the underlying `ws` socket), so no peer pays for a
// close handshake that another does not.
import WebSocket from 'ws'

export type Protocol = 'ws' | 'socket.io' | 'graphql-ws'

export interface Dialed {
  /** what happened: accepted, refused the protocol's way, or anything else (an error, a timeout) */
  outcome: 'open' | 'refused' | 'failed'
  /** e.g. 'open', 'http 401', 'connect_error', 'close 4403', 'timeout' */
  label: string
  /** drops the connection (TCP destroyed); safe to call more than once */
  drop: () => void
}

export interface DialOptions {
  /** the token, or undefined to send none */
  token: string | undefined
  /** for wss: the CA to trust and, for mTLS, the client certificate */
  tls?: { ca: string, cert?: string, key?: string } | undefined
  /** a connection with no outcome by then is 'failed' ('timeout') */
  timeoutMs: number
}

/** Opens one connection and resolves once it is accepted or refused (or failed). */
export function dial (protocol: Protocol, url: string, opts: DialOptions): Promise<Dialed> {
  return new Promise((resolve) => {
    let drop = (): void => {}
    let settled = false
    const timer = setTimeout(() => settle('failed', 'timeout'), opts.timeoutMs)
    function settle (outcome: Dialed['outcome'], label: string): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      // A connection that did not open is dropped at once; an open one is the caller's to drop.
      if (outcome !== 'open') drop()
      resolve({ outcome, label, drop: () => drop() })
    }
    const opening = protocol === 'ws'
      ? wsDial(url, opts, settle)
      : protocol === 'socket.io'
        ? socketIoDial(url, opts, settle)
        : graphqlWsDial(url, opts, settle)
    opening.then((d) => { drop = d }, (err: Error) => settle('failed', `error ${err.message}`))
  })
}

type Settle = (outcome: Dialed['outcome'], label: string) => void

async function wsDial (url: string, opts: DialOptions, settle: Settle): Promise<() => void> {
  const ws = new WebSocket(url, { headers: opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }, perMessageDeflate: false, ...opts.tls })
  ws.on('open', () => settle('open', 'open'))
  ws.on('unexpected-response', (req, res) => { res.resume(); req.destroy(); settle('refused', `http ${res.statusCode ?? 0}`) })
  ws.on('error', (err: Error & { code?: string }) => settle('failed', `error ${err.code ?? err.message}`))
  return () => ws.terminate()
}

async function socketIoDial (url: string, opts: DialOptions, settle: Settle): Promise<() => void> {
  const { io } = await import('socket.io-client')
  const socket = io(url, {
    transports: ['websocket'],
    auth: { token: opts.token },
    forceNew: true, // one connection per client, as separate users would have
    reconnection: false,
    perMessageDeflate: false as never // the server does not offer it either (engine.io's default)
  })
  socket.on('connect', () => settle('open', 'open'))
  // The middleware's `next(new Error(...))` arrives as connect_error with that message.
  socket.on('connect_error', (err: Error) => settle('refused', `connect_error ${err.message}`))
  return () => {
    // The engine's websocket transport holds a `ws` socket: destroy it as the other peers'
    // clients do, then let socket.io-client forget the connection.
    const transport = (socket.io.engine as unknown as { transport?: { ws?: WebSocket } } | undefined)?.transport
    transport?.ws?.terminate()
    socket.disconnect()
  }
}

async function graphqlWsDial (url: string, opts: DialOptions, settle: Settle): Promise<() => void> {
  const { createClient } = await import('graphql-ws')
  let socket: WebSocket | undefined
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { token: opts.token },
    lazy: false, // connect now, not on the first subscription
    retryAttempts: 0,
    keepAlive: 0,
    onNonLazyError: () => {},
    on: {
      connected: (s) => { socket = s as WebSocket; settle('open', 'open') },
      closed: (event) => {
        const code = (event as { code?: number }).code ?? 0
        settle(code === 4403 ? 'refused' : 'failed', `close ${code}`)
      },
      error: (err) => settle('failed', `error ${(err as Error).message ?? String(err)}`)
    }
  })
  return () => {
    socket?.terminate()
    client.terminate()
  }
}
