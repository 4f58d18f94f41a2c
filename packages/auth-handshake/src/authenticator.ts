import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { TSchema } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Principal, StandardClaims, WsguardErrorCode } from '@wsguard/core'
import { checkClaims, checkHeader, type TokenFault } from './claims.js'
import { decodeToken } from './decode.js'
import { FastifyJwtVerifier } from './fastify-jwt.js'
import { IssuerKeys, type KeyLogger, type Verify } from './jwks.js'
import type { JwsAlgorithm } from './algorithms.js'
import type { IssuerConfig } from './issuer-options.js'
import type { AuthHandshakeConfig } from './options.js'
import { defaultKind, principalFromClaims } from './principal.js'
import type { TicketFault } from './tickets.js'

/** Why a credential was refused: a token's fault, a ticket's, or a dependency that failed. */
export type Fault = TokenFault | TicketFault | 'unavailable'

export type AuthOutcome =
  | { ok: true, principal: Principal }
  | { ok: false, code: WsguardErrorCode, fault: Fault }

/** A trusted issuer and what verifies its signatures: wsguard's key set, or the app's `@fastify/jwt`. */
type TrustedIssuer = {
  config: IssuerConfig
  claims: TypeCheck<TSchema> | undefined
} & ({ keys: IssuerKeys, external?: undefined } | { keys?: undefined, external: FastifyJwtVerifier })

const fail = (code: WsguardErrorCode, fault: TokenFault | 'unavailable'): AuthOutcome => ({ ok: false, code, fault })
const INVALID = (fault: TokenFault): AuthOutcome => fail('WSG_TOKEN_INVALID', fault)
const UNKNOWN_KEY = INVALID('unknown-key')
const UNAVAILABLE = fail('WSG_UNAVAILABLE', 'unavailable')
const ACCESS_TOKEN_CLAIMS = Object.freeze(['iss', 'aud', 'sub', 'exp'])

/**
 * Verifies bearer tokens against the trusted issuers. Every check that needs no key runs
 * first, so expired, malformed, unknown-issuer and wrong-audience tokens cost no
 * signature work. Returns synchronously unless the issuer's keys must be fetched.
 */
export class TokenAuthenticator {
  readonly issuers = new Map<string, TrustedIssuer>()
  readonly #config: AuthHandshakeConfig

  /** `fastify`: where the plugin is registered, to find the app's `@fastify/jwt` (throws WSG_INVALID_OPTION when absent). */
  constructor (config: AuthHandshakeConfig, log: KeyLogger, fastify: FastifyInstance) {
    this.#config = config
    const settings = { cacheSize: config.verifiedTokenCacheSize, cacheTtlMs: config.verifiedTokenCacheTtlMs, requiredClaims: ACCESS_TOKEN_CLAIMS }
    config.issuers.forEach((issuer, i) => {
      const claims = issuer.claims === undefined ? undefined : TypeCompiler.Compile(issuer.claims)
      const path = config.issuers.length === 1 ? 'opts.jwt' : `opts.jwt[${i}]`
      this.issuers.set(issuer.issuer, issuer.fastifyJwt === undefined
        ? { config: issuer, claims, keys: new IssuerKeys(issuer, config.clock, settings, log) }
        : { config: issuer, claims, external: new FastifyJwtVerifier(fastify, issuer, path, config.clock, log) })
    })
  }

  /** Loads the key sets of remote issuers; never rejects (failures are logged by IssuerKeys). */
  async warmUp (): Promise<void> {
    await Promise.all([...this.issuers.values()].map((i) => i.keys?.refresh().catch(() => {})))
  }

  /** Longest key-set cooldown, ms: when a 503 for unavailable keys is worth retrying. */
  get longestCooldownMs (): number {
    return Math.max(...this.#config.issuers.map((i) => i.jwksCooldownMs))
  }

  /**
   * `request`: the handshake's (or, for a refresh, the socket's) request. Issuers verified by
   * the app's `@fastify/jwt` need it (its key function is given it); without it their tokens
   * are refused with a TypeError.
   */
  authenticate (token: string, request?: FastifyRequest): AuthOutcome | Promise<AuthOutcome> {
    if (token.length > this.#config.maxTokenBytes) return INVALID('malformed')
    const decoded = decodeToken(token)
    if (decoded === undefined) return INVALID('malformed')
    const { header, payload } = decoded
    const trusted = typeof payload.iss === 'string' ? this.issuers.get(payload.iss) : undefined
    if (trusted === undefined) return INVALID('issuer')
    const headerFault = checkHeader(header, trusted.config)
    if (headerFault !== undefined) return INVALID(headerFault)
    const claimFault = checkClaims(payload, trusted.config, this.#config.clock.now())
    if (claimFault !== undefined) return claimFault === 'expired' ? fail('WSG_TOKEN_EXPIRED', 'expired') : INVALID(claimFault)

    if (trusted.external !== undefined) {
      if (request === undefined) {
        return Promise.reject(new TypeError(`wsguardAuth.authenticate(token) needs the request for issuer ${trusted.config.issuer}, ` +
          'which @fastify/jwt verifies (its key function is given the request)'))
      }
      // Signed bytes are the ones decoded above: once @fastify/jwt verified them, these are the claims.
      return trusted.external.verify(token, request).then((verdict) => verdict === undefined ? this.#accept(payload, trusted) : fail(verdict.code, verdict.fault))
    }
    const kid = header.kid as string | undefined
    const alg = header.alg as JwsAlgorithm
    const keys = trusted.keys
    keys.refreshIfStale()
    const verify = keys.verifierFor(kid, alg)
    if (verify !== undefined) return this.#verify(token, verify, trusted)
    if (!keys.remote) return UNKNOWN_KEY
    // refresh() rejects only when no key set could ever be loaded: fail closed with 503.
    return keys.refresh().then(() => {
      const refreshed = keys.verifierFor(kid, alg)
      return refreshed === undefined ? UNKNOWN_KEY : this.#verify(token, refreshed, trusted)
    }, () => UNAVAILABLE)
  }

  #verify (token: string, verify: Verify, trusted: TrustedIssuer): AuthOutcome {
    let claims: StandardClaims
    try {
      claims = verify(token) as StandardClaims
    } catch {
      return INVALID('signature')
    }
    return this.#accept(claims, trusted)
  }

  /** The checks after the signature: claims schema, kind, the principal. */
  #accept (claims: StandardClaims, trusted: TrustedIssuer): AuthOutcome {
    if (trusted.claims !== undefined && !trusted.claims.Check(claims)) return INVALID('claims')
    const kind = (trusted.config.kind ?? defaultKind)(claims)
    // An app's kind() that answers anything else is a bug: fail the handshake loudly (500).
    if (kind !== 'user' && kind !== 'workload') throw new TypeError(`opts.jwt.kind returned ${String(kind)}, not 'user' or 'workload'`)
    return { ok: true, principal: principalFromClaims(claims, kind) }
  }
}
