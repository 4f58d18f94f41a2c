import type { Principal } from './principal.js'

/**
 * What a one-time ticket stands for, as the store keeps it: who asked for it, which websocket
 * path it opens, from which page. The ticket itself is never stored, only its SHA-256 (the id).
 */
export interface TicketRecord {
  /** the principal of the request that asked for the ticket (the handshake rebuilds it, method `ticket`) */
  readonly principal: Principal
  /** the websocket path the ticket opens (the request path, without a query), e.g. `/feed` */
  readonly path: string
  /** the `Origin` header of the request that asked for it; `null` when it had none */
  readonly origin: string | null
  /** ms since epoch: the ticket is refused from then on */
  readonly expiresAt: number
}

/**
 * Where one-time tickets wait to be used: in memory by default (auth-handshake's
 * `MemoryTicketStore`), on Redis with `@wsguard/redis` (`stores.tickets`), so any instance
 * can consume a ticket another issued. Ids are base64url SHA-256 digests of the tickets.
 */
export interface TicketStore {
  /**
   * Keeps `record` under `id` for `ttlMs`. Throws or rejects when it cannot (full,
   * unreachable): the ticket request is answered 503 and no ticket is handed out.
   */
  issue(id: string, record: TicketRecord, ttlMs: number): void | Promise<void>
  /**
   * Removes the record and returns it, atomically: of any number of callers, one gets it,
   * once. `undefined` when there is none (never issued, already used, dropped after its TTL);
   * a record past its `expiresAt` may still be returned, and the handshake refuses it. Throws
   * or rejects when it cannot tell: the handshake is refused (503).
   */
  consume(id: string): TicketRecord | undefined | Promise<TicketRecord | undefined>
}
