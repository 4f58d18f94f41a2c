import type { FastifyRequest } from 'fastify'
import { redactQuery } from '@wsguard/core'

/**
 * Fastify's default `req` log serializer, with token query parameters redacted. It is set
 * on websocket routes, so the "incoming request" line (logged before any hook runs) never
 * shows a token that came in the URL, whether the query carrier is on or not. It fits the
 * app logger's `serializers.req` too (for URLs no route matches).
 */
export function redactingReqSerializer (params: readonly string[]) {
  return function serializeRequest (req: FastifyRequest) {
    return {
      method: req.method,
      url: redactQuery(req.url, params),
      version: req.headers['accept-version'] as string | undefined, // Node joins a repeated custom header into one string
      host: req.host,
      remoteAddress: req.ip,
      remotePort: req.socket === undefined ? undefined : req.socket.remotePort
    }
  }
}
