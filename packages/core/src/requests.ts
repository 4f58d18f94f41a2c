import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'
import type { Principal } from './principal.js'

/**
 * Filled in by the plugins' own types: `@wsguard/session-expiry` adds `session: WsSession`,
 * which types `sessionOf()`. Empty without it.
 */
export interface WsguardRequestParts {}

/** What `sessionOf()` gives: session-expiry's `WsSession` when its types are loaded, else `never`. */
export type WsguardSessionOf = WsguardRequestParts extends { session: infer S } ? S : never

type Links = WeakMap<IncomingMessage, FastifyRequest>

// One map per process, under a global symbol: two copies of core (a plugin built against
// another version) must agree on it, as they do on the handshake checks' key.
const kLinks = Symbol.for('@wsguard/core.requestsByRaw')
const links: Links = ((globalThis as Record<symbol, unknown>)[kLinks] ??= new WeakMap()) as Links

/**
 * For plugins: remembers the Fastify request of a handshake the plugin admitted, so that code
 * that only gets the raw `IncomingMessage` (tRPC's `createContext`, `ws`'s `verifyClient`)
 * can find its principal. Only admitted handshakes are linked: an unlinked request has no
 * principal, never another request's.
 */
export function linkRequest (request: FastifyRequest): void {
  links.set(request.raw, request)
}

/**
 * The Fastify request of an admitted websocket handshake, from its raw request
 * (`request.raw`, the `req` tRPC's websocket `createContext` receives). `undefined` for a raw
 * request no wsguard plugin admitted.
 */
export function requestOf (raw: IncomingMessage): FastifyRequest | undefined {
  return links.get(raw)
}

/**
 * Who opened the socket, from its raw request: the current `request.principal` (read each
 * time, so a principal replaced by an in-band refresh is the one returned). `null` when no
 * wsguard plugin admitted this request, or the route runs without authentication.
 */
export function principalOf (raw: IncomingMessage): Principal | null {
  return links.get(raw)?.principal ?? null
}

/**
 * The socket's session (`request.wsSession`, set by `@wsguard/session-expiry` when the socket
 * opens), from its raw request; `null` before that, without session-expiry, or on a route that
 * opted out. Typed as `WsSession` once session-expiry is imported.
 */
export function sessionOf (raw: IncomingMessage): WsguardSessionOf | null {
  return ((links.get(raw) as { wsSession?: WsguardSessionOf | null } | undefined)?.wsSession ?? null)
}
