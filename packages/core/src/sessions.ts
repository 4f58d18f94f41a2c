import type { Principal } from './principal.js'

/** What a registry knows of one open socket (one connection). */
export interface SessionInfo {
  /** this connection's id (`request.wsSession.id`) */
  readonly id: string
  readonly route: string
  readonly remoteAddress: string
  readonly principal: Principal | null
  /** ms since epoch */
  readonly openedAt: number
  /** the credential's expiry, ms since epoch; absent when it has none */
  readonly expiresAt?: number
  /** when the socket will be closed unless refreshed: credential expiry + grace, or the lifetime cap */
  readonly deadline: number
  /** the instance that holds the socket */
  readonly instance: string
}

/**
 * Which sessions a revocation or a listing is about. `sessionId` matches the connection's
 * own id or the principal's `sessionId` (the token's `sid`). With `issuer`, a `subject` or
 * `sessionId` filter selects that issuer's principals only (a `sid` or `sub` is unique
 * within its issuer, not across issuers).
 */
export type SessionFilter =
  | { readonly subject: string, readonly issuer?: string }
  | { readonly sessionId: string, readonly issuer?: string }
  | { readonly tokenId: string }
  | { readonly issuer: string }

/** One principal, as a per-principal session cap counts it: its subject and, when it has one, its issuer. */
export interface PrincipalRef {
  readonly subject: string
  readonly issuer?: string
}

/**
 * One string per principal, issuer and subject, unambiguous whatever either holds (the issuer's
 * length first): the key a per-principal count is kept under, the same in every package.
 */
export function principalKey (subject: string, issuer: string | undefined): string {
  const iss = issuer ?? ''
  return `${iss.length}:${iss}${subject}`
}

/** Where open sessions are recorded, for `list()` across instances. In memory by default. */
export interface SessionRegistry {
  add(info: SessionInfo): void | Promise<void>
  update(info: SessionInfo): void | Promise<void>
  remove(id: string): void | Promise<void>
  list(filter?: SessionFilter): readonly SessionInfo[] | Promise<readonly SessionInfo[]>
  /**
   * How many sessions of exactly this principal (same subject, same issuer or none) are open,
   * on every instance the registry spans. Optional: without it a cap counts `list({ subject })`.
   */
  count?(principal: PrincipalRef): number | Promise<number>
}

/**
 * Where a revocation came from, for the audit trail of every instance it reaches: the
 * instance that issued it and, when the caller said, who asked and why. Each field is at most
 * `MAX_REVOCATION_ORIGIN_LENGTH` characters.
 */
export interface RevocationOrigin {
  /** the instance that issued it (`RevocationStore.instance`, else the issuer's own id) */
  readonly instance?: string
  /** who asked for it (an operator, a service, `backchannel-logout`) */
  readonly actor?: string
  /** why (free text) */
  readonly reason?: string
}

/** The longest `RevocationOrigin` field kept; longer ones are cut. */
export const MAX_REVOCATION_ORIGIN_LENGTH = 128

const ORIGIN_FIELDS = ['instance', 'actor', 'reason'] as const

/**
 * A revocation origin as it may be kept and published: only its string fields, each cut
 * past `MAX_REVOCATION_ORIGIN_LENGTH` characters (ending in `…`), frozen; `undefined` when
 * `value` is not an object or has none of them. For what arrives from elsewhere (a shared
 * store, a publisher): never trusted as given.
 */
export function revocationOrigin (value: unknown): RevocationOrigin | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  const out: Record<string, string> = {}
  let kept = 0
  for (const field of ORIGIN_FIELDS) {
    const text = v[field]
    if (typeof text !== 'string' || text.length === 0) continue
    out[field] = text.length <= MAX_REVOCATION_ORIGIN_LENGTH ? text : `${text.slice(0, MAX_REVOCATION_ORIGIN_LENGTH)}…`
    kept++
  }
  return kept === 0 ? undefined : Object.freeze(out)
}

/** One revocation, as stored and as broadcast to every instance. */
export interface Revocation {
  readonly filter: SessionFilter
  /** ms since epoch: tokens of a subject, session or issuer issued at or before this are refused */
  readonly at: number
  /** ms since epoch: after this the record can be forgotten */
  readonly until: number
  /** where it came from (audited where it closes sessions); absent from stores and callers that predate it */
  readonly origin?: RevocationOrigin
}

/**
 * Where revocations are kept (checked at every handshake) and how they reach every
 * instance (each closes its matching live sessions). In memory by default.
 */
export interface RevocationStore {
  /**
   * This instance's name in the store, when it has one: session-expiry puts it in the origin
   * of the revocations it issues (else its own random id).
   */
  readonly instance?: string
  /** records the revocation and delivers it to every subscriber, this instance's included */
  revoke(revocation: Revocation): Promise<void>
  /** whether a principal is refused: its token id, or its subject / session / issuer revoked after the token was issued */
  isRevoked(principal: Principal, now: number): boolean | Promise<boolean>
  /**
   * receives every revocation, from any instance; returns an unsubscribe function. A listener
   * that throws keeps neither the record nor the other listeners from the revocation: the
   * stores wsguard ships throw its error again on the next tick (uncaught, as
   * `diagnostics_channel` does), so a listener should catch what it can handle.
   */
  subscribe(listener: (revocation: Revocation) => void): () => void
}

/**
 * Remembers ids that may be used once (an OpenID Connect logout token's `jti`, a one-time
 * ticket), so a second use is refused on every instance that shares the store. In memory
 * by default (auth-handshake's `MemoryReplayStore`); `@wsguard/redis` shares one.
 */
export interface ReplayStore {
  /**
   * Records `id` as used until `until` (ms since epoch), atomically: `true` when it was not
   * recorded before (this is its first use), `false` when it was (a replay). Throws or
   * rejects when it cannot tell: the caller refuses. A claim that failed leaves `id` unused
   * as far as the store can make sure of it.
   */
  claim(id: string, until: number): boolean | Promise<boolean>
  /** forgets a claim this caller made whose action then failed, so a retry is not taken for a replay */
  release(id: string): void | Promise<void>
}
