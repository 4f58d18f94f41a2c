import type { FastifyRequest } from 'fastify'
import type { Principal } from './principal.js'

/**
 * `request.principal`, for a handler of a route auth-handshake governs, where it is never
 * null. Throws a `TypeError` naming the likely cause when it is: a route with
 * `config.auth: false`, a plain HTTP route, or an app without auth-handshake.
 */
export function requirePrincipal (request: FastifyRequest): Principal {
  const principal = request.principal
  if (principal === null || principal === undefined) {
    // The route's pattern, never the URL: a query string may hold a token.
    throw new TypeError(`request.principal is null on ${request.method} ${request.routeOptions.url ?? '(no route)'}: ` +
      'the route is not authenticated by @wsguard/auth-handshake (config.auth: false, a plain HTTP route, or no auth-handshake registered)')
  }
  return principal
}
