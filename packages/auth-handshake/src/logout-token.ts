import type { JwsAlgorithm } from './algorithms.js'
import { checkHeader } from './claims.js'
import { decodeToken, type JwsHeader } from './decode.js'
import { IssuerKeys, type KeyLogger, type Verify } from './jwks.js'
import type { BackchannelLogoutConfig } from './logout-options.js'
import type { IssuerConfig } from './issuer-options.js'

/** The member of `events` that makes a JWT a logout token (Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

/** Why a logout request was refused: fixed words for the log line, never token content. */
export type LogoutTokenFault =
  | 'request' | 'malformed' | 'algorithm' | 'typ' | 'crit' | 'kid' | 'issuer' | 'audience'
  | 'missing-iat' | 'issued-in-future' | 'too-old' | 'expired' | 'not-yet-valid' | 'jti' | 'events'
  | 'subject' | 'nonce' | 'unknown-key' | 'signature' | 'replayed'

/** What a valid logout token asks, when the IdP issued it, and until when its `jti` must be remembered (ms since epoch). */
export interface LogoutRequest {
  issuer: string
  issuedAt: number
  jti: string
  sid: string | undefined
  sub: string | undefined
  replayUntil: number
}

export type LogoutOutcome =
  | { ok: true, logout: LogoutRequest }
  | { ok: false, fault: LogoutTokenFault | 'unavailable' }

const LOGOUT_TOKEN_CLAIMS = Object.freeze(['iss', 'aud', 'iat', 'jti', 'events'])

interface LogoutIssuer { config: IssuerConfig, keys: IssuerKeys }

const refused = (fault: LogoutTokenFault | 'unavailable'): LogoutOutcome => ({ ok: false, fault })

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0

/** A `typ` that says "logout token", or says nothing of the kind (absent, or the generic `JWT` of RFC 7519 §5.1). */
function typFault (header: JwsHeader, explicit: boolean): boolean {
  if (header.typ === undefined) return explicit
  if (typeof header.typ !== 'string') return true
  const typ = header.typ.toLowerCase().replace(/^application\//, '')
  return !(typ === 'logout+jwt' || (!explicit && typ === 'jwt'))
}

/**
 * Verifies logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.6) with auth-handshake's
 * own machinery: the same compact-JWS decoding, header checks and per-issuer key sets as the
 * handshake, with a logout token's claims in place of an access token's. Every check that
 * needs no key runs first. Returns synchronously unless the issuer's keys must be fetched.
 */
export class LogoutTokenVerifier {
  readonly #issuers = new Map<string, LogoutIssuer>()
  readonly #config: BackchannelLogoutConfig

  constructor (config: BackchannelLogoutConfig, log: KeyLogger) {
    this.#config = config
    // No verified-token cache: a logout token is good once.
    const settings = { cacheSize: 0, cacheTtlMs: 0, requiredClaims: LOGOUT_TOKEN_CLAIMS }
    for (const issuer of config.issuers) {
      this.#issuers.set(issuer.issuer, { config: issuer, keys: new IssuerKeys(issuer, config.clock, settings, log) })
    }
  }

  /** Loads the key sets of remote issuers; never rejects (failures are logged by IssuerKeys). */
  async warmUp (): Promise<void> {
    await Promise.all([...this.#issuers.values()].map((i) => i.keys.refresh().catch(() => {})))
  }

  verify (token: string): LogoutOutcome | Promise<LogoutOutcome> {
    if (token.length > this.#config.maxTokenBytes) return refused('malformed')
    const decoded = decodeToken(token)
    if (decoded === undefined) return refused('malformed')
    const { header, payload } = decoded
    const trusted = typeof payload.iss === 'string' ? this.#issuers.get(payload.iss) : undefined
    if (trusted === undefined) return refused('issuer')
    const headerFault = checkHeader(header, trusted.config)
    if (headerFault !== undefined) return refused(headerFault as LogoutTokenFault)
    if (typFault(header, this.#config.requireExplicitTyp)) return refused('typ')
    const checked = this.#checkClaims(payload, trusted.config)
    if (typeof checked === 'string') return refused(checked)

    const kid = header.kid as string | undefined
    const alg = header.alg as JwsAlgorithm
    const keys = trusted.keys
    keys.refreshIfStale()
    const verify = keys.verifierFor(kid, alg)
    if (verify !== undefined) return signed(token, verify, checked)
    if (!keys.remote) return refused('unknown-key')
    // refresh() rejects only when no key set could ever be loaded: 503, the IdP may retry.
    return keys.refresh().then(() => {
      const refreshed = keys.verifierFor(kid, alg)
      return refreshed === undefined ? refused('unknown-key') : signed(token, refreshed, checked)
    }, () => refused('unavailable'))
  }

  /** §2.6 steps 3 to 6 (and `jti`, which the replay check needs), with the injected clock. */
  #checkClaims (payload: Record<string, unknown>, issuer: IssuerConfig): LogoutRequest | LogoutTokenFault {
    const aud = payload.aud
    const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
    if (!audiences.some((a) => typeof a === 'string' && issuer.audiences.includes(a))) return 'audience'
    const now = this.#config.clock.now()
    const tolerance = this.#config.clockToleranceMs
    const { iat, exp, nbf, jti, sid, sub } = payload
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'missing-iat'
    if (iat * 1000 - tolerance > now) return 'issued-in-future'
    const oldUntil = iat * 1000 + this.#config.maxTokenAgeMs + tolerance
    if (now > oldUntil) return 'too-old'
    if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp) || exp * 1000 + tolerance <= now)) return 'expired'
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf * 1000 - tolerance > now)) return 'not-yet-valid'
    if (!nonEmpty(jti)) return 'jti'
    const events = payload.events
    if (!isObject(events) || !Object.hasOwn(events, BACKCHANNEL_LOGOUT_EVENT) || !isObject(events[BACKCHANNEL_LOGOUT_EVENT])) return 'events'
    if ((sid === undefined && sub === undefined) || (sid !== undefined && !identifier(sid)) || (sub !== undefined && !identifier(sub))) return 'subject'
    // Prohibited, so that a logout token can never pass for an ID token (§2.4).
    if (Object.hasOwn(payload, 'nonce')) return 'nonce'
    // The jti is remembered for as long as the token would pass these checks here, and then
    // for one tolerance more: another instance sharing the replay store whose clock runs up to
    // the tolerance behind still takes the token as fresh that long, and would apply it again.
    const replayUntil = (typeof exp === 'number' ? Math.min(oldUntil, exp * 1000 + tolerance) : oldUntil) + tolerance
    return { issuer: issuer.issuer, issuedAt: iat * 1000, jti, sid: sid as string | undefined, sub: sub as string | undefined, replayUntil }
  }
}

/** The signature, by fast-jwt, which checks `iss`, `aud` and the required claims again. */
function signed (token: string, verify: Verify, logout: LogoutRequest): LogoutOutcome {
  try {
    verify(token)
  } catch {
    return refused('signature')
  }
  return { ok: true, logout }
}

/**
 * The most characters of a `sid` or `sub` a logout token may carry: OpenID Connect caps `sub`
 * at 255 ASCII characters, and each accepted logout is a revocation record kept (with its
 * `sid` or `sub`) for `revocationRetentionMs`, so a longer one is refused rather than kept.
 */
export const MAX_LOGOUT_IDENTIFIER_LENGTH = 255

const identifier = (value: unknown): boolean => nonEmpty(value) && (value as string).length <= MAX_LOGOUT_IDENTIFIER_LENGTH
