import type { FastifyRequest } from 'fastify'
import type { WsguardErrorCode } from './errors.js'
import type { Principal } from './principal.js'

/** The result of checking a credential: a principal, or the `WSG_*` code of the refusal. */
export type AuthOutcome =
  | { ok: true, principal: Principal }
  | { ok: false, code: WsguardErrorCode, fault?: string }

/**
 * What an authenticating plugin (auth-handshake) exposes as `fastify.wsguardAuth`, so that
 * other plugins (session-expiry's in-band refresh) can run the same checks without
 * importing it.
 */
export interface WsguardAuth {
  /**
   * Verifies a token with the handshake's checks. With the `request` of a websocket route,
   * that route's rules (scopes, over-scope) apply too. A token bound to a client certificate
   * needs that certificate on the request's connection, whatever the route; without a
   * `request` it is refused.
   */
  authenticate(token: string, request?: FastifyRequest): Promise<AuthOutcome>
  /**
   * The most a token's `iat` may be ahead of this server's clock and still be accepted, ms:
   * the `issuer`'s (auth-handshake: its `clockToleranceMs`), or the largest of any issuer when
   * it is not given or not known. session-expiry dates a revocation this far ahead, so a token
   * issued before it by a clock running ahead is not taken for one issued after it.
   */
  clockToleranceMs?(issuer?: string): number
}
