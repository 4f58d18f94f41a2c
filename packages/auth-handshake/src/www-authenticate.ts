import { errorInfo, type WsguardErrorCode } from '@wsguard/core'
import type { Fault } from './authenticator.js'

const DESCRIPTIONS: Record<Fault, string> = {
  malformed: 'The token is malformed',
  algorithm: 'The token algorithm is not accepted',
  typ: 'The token type is not accepted',
  crit: 'The token has an unsupported critical header',
  kid: 'The token key id is malformed',
  issuer: 'The token issuer is not trusted',
  audience: 'The token audience is not accepted',
  subject: 'The token has no subject',
  expired: 'The token has expired',
  'missing-exp': 'The token has no expiry',
  'not-yet-valid': 'The token is not yet valid',
  'issued-in-future': 'The token was issued in the future',
  'too-old': 'The token is too old',
  signature: 'The token signature is invalid',
  claims: 'The token claims do not match the schema',
  'unknown-key': 'The token was signed with an unknown key',
  scope: 'The token scope claim is malformed',
  verification: 'The token did not pass verification',
  'key-header': 'The token header names or carries a key',
  confirmation: 'The token is bound to a key this server cannot check',
  unavailable: 'The issuer keys are unavailable',
  // Tickets are no bearer tokens: WSG_TICKET_INVALID carries no challenge. Listed for completeness.
  'ticket-malformed': 'The ticket is malformed',
  'ticket-unknown': 'The ticket is unknown or already used',
  'ticket-expired': 'The ticket has expired',
  'ticket-route': 'The ticket is for another route',
  'ticket-origin': 'The ticket is for another origin',
  'ticket-store': 'The ticket store is unavailable'
}

/**
 * RFC 6750 §3 challenges, built once per (code, fault) and reused: a rejection
 * allocates nothing. The text never contains credential content.
 */
export class Challenges {
  readonly #realm: string
  readonly #retryAfter: string
  readonly #cache = new Map<string, Record<string, string> | undefined>()

  /** `retryAfterSeconds`: sent with 503, so a client comes back when a key fetch may run again. */
  constructor (realm: string, retryAfterSeconds: number) {
    this.#realm = realm
    this.#retryAfter = String(retryAfterSeconds)
  }

  /** Headers for a rejection; `scope` is the route's required scopes for insufficient_scope. */
  headers (code: WsguardErrorCode, fault?: Fault, scope?: string): Record<string, string> | undefined {
    const key = `${code}|${fault ?? ''}|${scope ?? ''}`
    if (this.#cache.has(key)) return this.#cache.get(key)
    const value = this.#build(code, fault, scope)
    this.#cache.set(key, value)
    return value
  }

  #build (code: WsguardErrorCode, fault?: Fault, scope?: string): Record<string, string> | undefined {
    if (code === 'WSG_UNAVAILABLE') return { 'retry-after': this.#retryAfter }
    const def = errorInfo(code)
    if (code === 'WSG_CREDENTIAL_MISSING') return { 'www-authenticate': `Bearer realm="${this.#realm}"` }
    if (!('bearer' in def)) return undefined
    let challenge = `Bearer realm="${this.#realm}", error="${def.bearer as string}"`
    const description = fault === undefined ? def.message : DESCRIPTIONS[fault]
    challenge += `, error_description="${description}"`
    if (scope !== undefined && scope.length > 0) challenge += `, scope="${scope}"`
    return { 'www-authenticate': challenge }
  }
}
