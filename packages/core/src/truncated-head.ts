import type { IncomingMessage, Server } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { publishRejection } from './channels.js'
import { sendRejection } from './rejection.js'

/** Node's own default: `parser.maxHeaderPairs` when `server.maxHeadersCount` is not set (names and values, 1,000 lines). */
const NODE_HEADER_ENTRIES = 2_000

// Set on the instance whose hook refuses such heads; an encapsulated context inherits it.
const kGuarded = Symbol.for('@wsguard/core.truncatedHeadGuard')

/**
 * Whether Node may have dropped header lines of this request. Its HTTP parser keeps at most
 * `server.maxHeadersCount` lines (1,000 unless set; `0` keeps all), and drops the rest from
 * `headers` and `rawHeaders` alike, without an error: a second `Authorization`, or the
 * `X-Forwarded-For` a proxy appended, could be among them. A request that has reached the
 * limit is read as truncated.
 */
export function headTruncated (raw: IncomingMessage, server: Pick<Server, 'maxHeadersCount'>): boolean {
  const count = server.maxHeadersCount
  const limit = typeof count === 'number' ? count * 2 : NODE_HEADER_ENTRIES
  return limit > 0 && (raw.rawHeaders?.length ?? 0) >= limit
}

/**
 * `headTruncated` for a Fastify request, by the limit of the server that parsed it
 * (@fastify/websocket may take upgrades on a server of its own), else of the app's.
 */
export function requestHeadTruncated (request: FastifyRequest): boolean {
  const parsedBy = (request.raw.socket as { server?: Pick<Server, 'maxHeadersCount'> } | undefined)?.server ?? request.server.server
  return headTruncated(request.raw, parsedBy)
}

/**
 * For plugins, before they read anything from the headers: an upgrade to a route whose header
 * lines Node may have cut short is refused 400 `WSG_BAD_REQUEST` (published with detail
 * `header-lines-dropped`) by an instance-level `onRequest` hook, which runs before every
 * route's own; so is a plain request to a route that asks for its HTTP requests to be governed
 * (`config.governHttp`), unpublished. Other plain requests are left to Node and the app. A plugin cannot check what it cannot see: a credential, a forwarded address or
 * certificate past the limit would ride beside the ones it reads. One hook per app: a later
 * call on the same instance, or in a context that inherits it, adds none.
 */
export function refuseTruncatedHeads (fastify: FastifyInstance, source: string): void {
  if (fastify.hasDecorator(kGuarded)) return
  fastify.decorate(kGuarded, true)
  fastify.addHook('onRequest', function wsguardTruncatedHead (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    if (!requestHeadTruncated(request)) return done()
    const { url: route, config } = request.routeOptions
    // A URL no route matches is answered 404 and never upgraded.
    if (route === undefined) return done()
    if ((request as { ws?: boolean }).ws === true) {
      sendRejection(reply, 'WSG_BAD_REQUEST')
      publishRejection(source, request, route, 'WSG_BAD_REQUEST', 0, 'header-lines-dropped', null)
      return
    }
    // A plain request gets the handshake's checks only on a route that asks (config.governHttp):
    // refused alike there, and not published (it is no handshake).
    if ((config as { governHttp?: unknown } | undefined)?.governHttp === true) return sendRejection(reply, 'WSG_BAD_REQUEST')
    done()
  })
}
