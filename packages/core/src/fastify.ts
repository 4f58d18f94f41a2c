import type {} from 'fastify'
import type { Principal } from './principal.js'
import type { WsguardAuth } from './auth.js'

// The principal is the contract every wsguard plugin shares: auth-handshake (or a custom
// authenticator) sets it, the others read it. It is declared here, in the shared package,
// because no plugin imports another.
declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Who opened the socket, set by `@wsguard/auth-handshake` before the upgrade.
     * `null` on routes that opt out (`config.auth: false`), on plain HTTP routes, and in an
     * app without auth-handshake. On a governed websocket route it is always set:
     * `requirePrincipal(request)` returns it typed non-null (and throws where it is null).
     */
    principal: Principal | null
  }
  interface FastifyContextConfig {
    /**
     * wsguard: also govern this websocket route's plain HTTP requests (the `handler` of a
     * `{ handler, wsHandler }` route, and its HEAD twin) with the checks of its handshake:
     * credential and scope rules, revocations, handshake topic. Default false: only the
     * upgrade is governed.
     */
    governHttp?: boolean
  }
  interface FastifyInstance {
    /** set by `@wsguard/auth-handshake`: its token checks, for in-band refresh */
    wsguardAuth: WsguardAuth
  }
}

export {}
