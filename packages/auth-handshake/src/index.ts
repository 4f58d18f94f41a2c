import fp from 'fastify-plugin'
import { authHandshakePlugin } from './plugin.js'
import { backchannelLogoutPlugin } from './backchannel-logout.js'
import type { RouteAuthConfig } from './route-rules.js'

export type {
  AuthHandshakeOptions, Carrier, FastifyJwtSource, JsonWebKeySet, JwtFastifyJwtHmacIssuerOptions, JwtFastifyJwtIssuerOptions,
  JwtIssuerCommonOptions, JwtIssuerOptions, JwtKeySetIssuerOptions, KeySetOptions
} from './options.js'
export {
  TICKET_PROTOCOL_PREFIX, TICKET_QUERY_PARAMETER,
  DEFAULT_CARRIERS, DEFAULT_COOKIE_NAME, DEFAULT_QUERY_PARAMETER, DEFAULT_SUBPROTOCOL_PREFIX, DEFAULT_REALM,
  DEFAULT_MAX_TOKEN_BYTES, DEFAULT_CLOCK_TOLERANCE_MS, DEFAULT_JWKS_COOLDOWN_MS, DEFAULT_JWKS_MAX_AGE_MS,
  DEFAULT_JWKS_TIMEOUT_MS, DEFAULT_VERIFIED_TOKEN_CACHE_SIZE, DEFAULT_VERIFIED_TOKEN_CACHE_TTL_MS, DEFAULT_VERIFY_TIMEOUT_MS
} from './options.js'
export type { RouteAuthConfig, RouteMethod } from './route-rules.js'
export type { MtlsOptions, MtlsIdentity, ClientCertificate } from './mtls.js'
export { spiffeTrustDomain } from './mtls.js'
export type { AuthOutcome } from '@wsguard/core'
/** `request.principal` typed non-null, for handlers of routes this plugin governs (re-exported from `@wsguard/core`). */
export { requirePrincipal } from '@wsguard/core'
export type { TokenFault } from './claims.js'
export { JWS_ALGORITHMS, HMAC_ALGORITHMS, type JwsAlgorithm, type HmacAlgorithm } from './algorithms.js'
export { redactingReqSerializer } from './log.js'
export type { BackchannelLogoutOptions, LogoutIssuerOptions } from './logout-options.js'
export {
  DEFAULT_LOGOUT_PATH, DEFAULT_LOGOUT_MAX_TOKEN_AGE_MS, DEFAULT_LOGOUT_REVOCATION_RETENTION_MS, DEFAULT_LOGOUT_STORE_TIMEOUT_MS, DEFAULT_LOGOUT_MAX_PER_SUBJECT, MAX_LOGOUT_SUBJECTS
} from './logout-options.js'
export { BACKCHANNEL_LOGOUT_EVENT, type LogoutTokenFault } from './logout-token.js'
export { MemoryReplayStore, DEFAULT_REPLAY_MAX_ENTRIES, type MemoryReplayStoreOptions } from './replay-memory.js'
export type { ReplayStore, RevocationStore } from '@wsguard/core'
export type { TicketOptions } from './ticket-options.js'
export { DEFAULT_TICKET_PATH, DEFAULT_TICKET_TTL_MS, MIN_TICKET_TTL_MS, MAX_TICKET_TTL_MS, DEFAULT_TICKET_STORE_TIMEOUT_MS, DEFAULT_TICKETS_PER_PRINCIPAL, MAX_TICKETS_PER_PRINCIPAL } from './ticket-options.js'
export { MemoryTicketStore, DEFAULT_TICKET_MAX_ENTRIES, type MemoryTicketStoreOptions } from './ticket-memory.js'
export { REFUSAL_CLOSE_TIMEOUT_MS, REFUSAL_MAX_PAYLOAD } from './browser-rejection.js'
export type { TicketRecord, TicketStore } from '@wsguard/core'

export type { WsguardAuth } from '@wsguard/core'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** auth-handshake route rules; `false` opts the websocket route out */
    auth?: RouteAuthConfig | false
  }
}

/**
 * Decides who opens a WebSocket before the upgrade: finds the credential, verifies it
 * against the trusted issuers, applies the route's scope rules and sets `request.principal`.
 */
export const authHandshake = fp(authHandshakePlugin, {
  fastify: '5.x',
  name: '@wsguard/auth-handshake',
  dependencies: ['@fastify/websocket']
})

export default authHandshake

/**
 * OpenID Connect Back-Channel Logout 1.0: a POST endpoint that accepts an IdP's
 * `logout_token`, verifies it with auth-handshake's key sets, refuses a replayed `jti` through
 * a `ReplayStore`, and revokes the IdP session (or user) through a `RevocationStore`, so every
 * instance closes the matching sockets (4403) and refuses older tokens.
 */
export const backchannelLogout = fp(backchannelLogoutPlugin, {
  fastify: '5.x',
  name: '@wsguard/auth-handshake/backchannel-logout'
})
