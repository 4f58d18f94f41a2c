import type { Socket } from 'node:net'
import type {} from '@fastify/websocket'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errorInfo, type RejectionDelivery } from '@wsguard/core'
import { stripCredentialProtocols } from './carriers.js'

/** A refused client that does not answer the close frame within this is cut off, ms. */
export const REFUSAL_CLOSE_TIMEOUT_MS = 2_000
/**
 * The most a refused socket reads as one message, bytes: a control frame's payload. Nothing
 * but the client's close is expected; a bigger data frame ends the socket (1009) instead of
 * being buffered up to the app's `maxPayload` (`ws`'s default is 100 MiB) by a client that
 * has no credential.
 */
export const REFUSAL_MAX_PAYLOAD = 125
const NO_HEAD = Buffer.alloc(0)
const noop = (): void => {}

type WebSocketServer = FastifyInstance['websocketServer']

/** What delivering a refusal as a close needs, built once. */
export interface CloseDeliveryContext {
  /** the server that performs refused upgrades (`refusalServer`), never the app's */
  readonly server: WebSocketServer
  /** the credential entries of `Sec-WebSocket-Protocol`, never echoed in the 101 */
  readonly credentialProtocols: readonly string[]
}

/**
 * A `ws` server of the app's own `ws` (the class of @fastify/websocket's server, so the same
 * version) for refused upgrades only: it reads at most REFUSAL_MAX_PAYLOAD bytes a message, no
 * compression, and keeps its sockets out of the app's `websocketServer.clients`. It chooses the
 * subprotocol as the app's server does (its `handleProtocols`, or `ws`'s default).
 */
export function refusalServer (app: WebSocketServer): WebSocketServer {
  const Server = app.constructor as new (options: WebSocketServer['options']) => WebSocketServer
  return new Server({
    noServer: true,
    clientTracking: true,
    perMessageDeflate: false,
    maxPayload: REFUSAL_MAX_PAYLOAD,
    // `ws` fills in its default (null) when the app gave none
    handleProtocols: app.options.handleProtocols
  })
}

/**
 * `browserRejection: 'close'`: a refusal of this upgrade is delivered by accepting it and
 * closing at once with the refusal's close code and its `WSG_` code as reason. Nothing else
 * is sent: no `connection` event, so no handler and no session; the app sees no socket.
 * When the socket has closed, the reply counts as finished with the refusal's status, so
 * every `onResponse` hook (telemetry's refused duration, session-expiry giving back a place
 * under its cap) and the request log run as for an HTTP refusal.
 */
export function closeDelivery (request: FastifyRequest, reply: FastifyReply, context: CloseDeliveryContext): RejectionDelivery {
  return function deliverAsClose (code, closeCode, headers) {
    // A page cannot read the 429's or 503's Retry-After: the reason carries it, a fixed shape
    // (`WSG_RATE_LIMITED retry-after=30`) that @wsguard/client reads.
    const retryAfter = headers?.['retry-after']
    const reason = retryAfter === undefined ? code : `${code} retry-after=${retryAfter}`
    reply.hijack()
    reply.code(errorInfo(code).status)
    const raw = request.raw
    const socket = raw.socket as Socket
    let timer: NodeJS.Timeout | undefined
    const finished = (): void => {
      clearTimeout(timer)
      reply.raw.emit('finish')
    }
    if (socket.destroyed) return finished()
    socket.once('close', finished)
    // `ws` selects the first protocol offered: a credential entry left in would be echoed.
    if (raw.headers['sec-websocket-protocol'] !== undefined) stripCredentialProtocols(raw.headers, context.credentialProtocols)
    context.server.handleUpgrade(raw, socket, NO_HEAD, (ws) => {
      ws.on('error', noop) // a frame over REFUSAL_MAX_PAYLOAD, or garbage: the socket ends, nothing to report
      ws.close(closeCode, reason)
      timer = setTimeout(() => { ws.terminate() }, REFUSAL_CLOSE_TIMEOUT_MS).unref()
    })
  }
}
