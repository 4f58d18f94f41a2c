import { invalidOption, isClock, systemClock, type Clock } from '@wsguard/core'
import { validateIssuer, type IssuerConfig, type JwtIssuerOptions } from './issuer-options.js'
import { bool, duration, isObject, nonEmptyString, positiveInteger, unknownKeys } from './option-checks.js'
import { validateMtls, type MtlsConfig, type MtlsOptions } from './mtls.js'
import { validateTickets, type TicketConfig, type TicketOptions } from './ticket-options.js'

export {
  DEFAULT_CLOCK_TOLERANCE_MS, DEFAULT_JWKS_COOLDOWN_MS, DEFAULT_JWKS_MAX_AGE_MS, DEFAULT_JWKS_TIMEOUT_MS, DEFAULT_VERIFY_TIMEOUT_MS,
  type FastifyJwtSource, type IssuerConfig, type JsonWebKeySet, type JwtFastifyJwtHmacIssuerOptions, type JwtFastifyJwtIssuerOptions,
  type JwtIssuerCommonOptions, type JwtIssuerOptions, type JwtKeySetIssuerOptions, type KeySetOptions
} from './issuer-options.js'

export type Carrier = 'header' | 'subprotocol' | 'cookie' | 'query' | 'ticket'
export const CARRIERS: readonly Carrier[] = Object.freeze(['header', 'subprotocol', 'cookie', 'query', 'ticket'])

export interface AuthHandshakeOptions {
  /** trusted issuer(s); with `mtls`, may be left out for certificate-only services */
  jwt?: JwtIssuerOptions | readonly JwtIssuerOptions[]
  /** client certificates (mTLS) and workload identity */
  mtls?: MtlsOptions
  /**
   * where a credential may be presented. `'ticket'`: a one-time ticket from `opts.tickets`'s
   * endpoint, in a `ticket.<ticket>` subprotocol entry or a `ticket` query parameter.
   * Default `['header', 'subprotocol']`
   */
  carriers?: readonly Carrier[]
  /** cookie read by the `cookie` carrier. Default `'access_token'` */
  cookieName?: string
  /** query parameter read by the `query` carrier. Default `'access_token'` */
  queryParameter?: string
  /** prefix of the `Sec-WebSocket-Protocol` entry carrying the token. Default `'bearer.'` */
  subprotocolPrefix?: string
  /** exact origins allowed (e.g. `https://app.example`), or a predicate. Default: any origin */
  allowedOrigins?: readonly string[] | ((origin: string) => boolean)
  /** refuse handshakes without an `Origin` header. Default false */
  requireOrigin?: boolean
  /** realm in `WWW-Authenticate`. Default `'wsguard'` */
  realm?: string
  /** longest accepted token, bytes. Default 8192 */
  maxTokenBytes?: number
  /** verified tokens remembered per key so reconnects skip the signature check; 0 turns it off. Default 1024 */
  verifiedTokenCacheSize?: number
  /** how long a verified token is remembered, ms (expiry is still checked on every hit). Default 600_000 */
  verifiedTokenCacheTtlMs?: number
  /** replace the `req` log serializer of websocket routes with one that redacts token query parameters. Default true */
  redactLogs?: boolean
  /** one-time tickets: the endpoint that issues them (needs `'ticket'` in `carriers`). Default none */
  tickets?: TicketOptions
  /**
   * how a refused upgrade that carries an `Origin` header (a browser's) is answered: `'http'`, a
   * plain HTTP response (the page sees only a failed connection, 1006); `'close'`, the upgrade
   * is accepted and closed at once with the 44xx code of the refusal's status and its `WSG_`
   * code as reason, whichever wsguard plugin refused it. Upgrades without `Origin` always get
   * the HTTP answer. Default 'http'
   */
  browserRejection?: 'http' | 'close'
  /** time source. Default `Date.now` */
  clock?: Clock
}

/** the `Sec-WebSocket-Protocol` entry prefix of the `ticket` carrier: `ticket.<ticket>` */
export const TICKET_PROTOCOL_PREFIX = 'ticket.'
/** the query parameter of the `ticket` carrier */
export const TICKET_QUERY_PARAMETER = 'ticket'

export const DEFAULT_CARRIERS: readonly Carrier[] = Object.freeze(['header', 'subprotocol'])
export const DEFAULT_COOKIE_NAME = 'access_token'
export const DEFAULT_QUERY_PARAMETER = 'access_token'
export const DEFAULT_SUBPROTOCOL_PREFIX = 'bearer.'
export const DEFAULT_REALM = 'wsguard'
export const DEFAULT_MAX_TOKEN_BYTES = 8192
export const DEFAULT_VERIFIED_TOKEN_CACHE_SIZE = 1024
export const DEFAULT_VERIFIED_TOKEN_CACHE_TTL_MS = 600_000

export interface AuthHandshakeConfig {
  issuers: readonly IssuerConfig[]
  mtls: MtlsConfig | undefined
  carriers: ReadonlySet<Carrier>
  cookieName: string
  queryParameter: string
  subprotocolPrefix: string
  allowedOrigins: ((origin: string) => boolean) | undefined
  requireOrigin: boolean
  realm: string
  maxTokenBytes: number
  verifiedTokenCacheSize: number
  verifiedTokenCacheTtlMs: number
  redactLogs: boolean
  tickets: TicketConfig | undefined
  browserRejection: 'http' | 'close'
  clock: Clock
}

const OPTION_KEYS = new Set(['jwt', 'mtls', 'carriers', 'cookieName', 'queryParameter', 'subprotocolPrefix', 'allowedOrigins',
  'requireOrigin', 'realm', 'maxTokenBytes', 'verifiedTokenCacheSize', 'verifiedTokenCacheTtlMs', 'redactLogs', 'tickets', 'browserRejection', 'clock'])
const TOKEN_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

function validateOrigins (value: unknown): ((origin: string) => boolean) | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'function') return value as (origin: string) => boolean
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidOption('opts.allowedOrigins must be a non-empty array of origins or a function')
  }
  const origins = new Set<string>()
  for (const origin of value) {
    const text = nonEmptyString(origin, 'opts.allowedOrigins[]')
    let url: URL
    try {
      url = new URL(text)
    } catch {
      throw invalidOption(`opts.allowedOrigins: ${JSON.stringify(origin)} is not an origin`)
    }
    if (url.origin === 'null' || url.origin !== text.replace(/\/$/, '').toLowerCase()) {
      throw invalidOption(`opts.allowedOrigins: ${JSON.stringify(origin)} is not an origin (scheme://host[:port])`)
    }
    origins.add(url.origin)
  }
  return (origin) => origins.has(origin.toLowerCase())
}

/** Validates and copies the options; throws WSG_INVALID_OPTION naming the option path. */
export function validateOptions (opts: unknown): AuthHandshakeConfig {
  if (!isObject(opts)) throw invalidOption('opts must be an object')
  unknownKeys(opts, OPTION_KEYS, 'opts')
  if (opts.jwt === undefined && opts.mtls === undefined) throw invalidOption('opts needs jwt, mtls or both')
  const issuerList = opts.jwt === undefined ? [] : Array.isArray(opts.jwt) ? opts.jwt : [opts.jwt]
  if (opts.jwt !== undefined && issuerList.length === 0) throw invalidOption('opts.jwt must name at least one issuer')
  const issuers = issuerList.map((v, i) => validateIssuer(v, Array.isArray(opts.jwt) ? `opts.jwt[${i}]` : 'opts.jwt'))
  const seen = new Set<string>()
  for (const { issuer } of issuers) {
    if (seen.has(issuer)) throw invalidOption(`opts.jwt: issuer ${JSON.stringify(issuer)} is listed twice`)
    seen.add(issuer)
  }

  let carriers: Set<Carrier> = new Set(DEFAULT_CARRIERS)
  if (opts.carriers !== undefined) {
    if (!Array.isArray(opts.carriers) || opts.carriers.length === 0) {
      throw invalidOption(`opts.carriers must be a non-empty array of ${CARRIERS.join(', ')}`)
    }
    for (const c of opts.carriers) {
      if (!CARRIERS.includes(c)) throw invalidOption(`opts.carriers: ${JSON.stringify(c)} is not one of ${CARRIERS.join(', ')}`)
    }
    carriers = new Set(opts.carriers as Carrier[])
  }
  const allowedOrigins = validateOrigins(opts.allowedOrigins)
  if (carriers.has('cookie') && allowedOrigins === undefined) {
    throw invalidOption('opts.carriers includes cookie, which needs opts.allowedOrigins (cross-site WebSocket hijacking)')
  }
  const cookieName = opts.cookieName === undefined ? DEFAULT_COOKIE_NAME : nonEmptyString(opts.cookieName, 'opts.cookieName')
  if (!TOKEN_NAME.test(cookieName)) throw invalidOption('opts.cookieName must be a cookie name token')
  if (opts.clock !== undefined && !isClock(opts.clock)) throw invalidOption('opts.clock must be an object with a now() method')
  const clock = (opts.clock as Clock | undefined) ?? systemClock
  const tickets = validateTickets(opts.tickets, { clock, hasIssuers: issuers.length > 0, hasAllowedOrigins: allowedOrigins !== undefined, carrierOn: carriers.has('ticket') })
  const subprotocolPrefix = (opts.subprotocolPrefix === undefined ? DEFAULT_SUBPROTOCOL_PREFIX : nonEmptyString(opts.subprotocolPrefix, 'opts.subprotocolPrefix')).toLowerCase()
  const queryParameter = opts.queryParameter === undefined ? DEFAULT_QUERY_PARAMETER : nonEmptyString(opts.queryParameter, 'opts.queryParameter')
  if (tickets !== undefined && (TICKET_PROTOCOL_PREFIX.startsWith(subprotocolPrefix) || subprotocolPrefix.startsWith(TICKET_PROTOCOL_PREFIX))) {
    throw invalidOption(`opts.subprotocolPrefix must not overlap the ticket carrier's ${JSON.stringify(TICKET_PROTOCOL_PREFIX)}`)
  }
  if (tickets !== undefined && queryParameter === TICKET_QUERY_PARAMETER) {
    throw invalidOption(`opts.queryParameter must not be the ticket carrier's ${JSON.stringify(TICKET_QUERY_PARAMETER)}`)
  }
  if (opts.browserRejection !== undefined && opts.browserRejection !== 'http' && opts.browserRejection !== 'close') {
    throw invalidOption("opts.browserRejection must be 'http' or 'close'")
  }
  return {
    issuers,
    mtls: opts.mtls === undefined ? undefined : validateMtls(opts.mtls),
    carriers,
    cookieName,
    queryParameter,
    subprotocolPrefix,
    allowedOrigins,
    requireOrigin: bool(opts.requireOrigin, 'opts.requireOrigin', false),
    realm: validateRealm(opts.realm),
    maxTokenBytes: positiveInteger(opts.maxTokenBytes, 'opts.maxTokenBytes', DEFAULT_MAX_TOKEN_BYTES, 16),
    verifiedTokenCacheSize: positiveInteger(opts.verifiedTokenCacheSize, 'opts.verifiedTokenCacheSize', DEFAULT_VERIFIED_TOKEN_CACHE_SIZE, 0),
    verifiedTokenCacheTtlMs: duration(opts.verifiedTokenCacheTtlMs, 'opts.verifiedTokenCacheTtlMs', DEFAULT_VERIFIED_TOKEN_CACHE_TTL_MS),
    redactLogs: bool(opts.redactLogs, 'opts.redactLogs', true),
    tickets,
    browserRejection: (opts.browserRejection ?? 'http') as 'http' | 'close',
    clock
  }
}

function validateRealm (value: unknown): string {
  if (value === undefined) return DEFAULT_REALM
  const realm = nonEmptyString(value, 'opts.realm')
  if (/["\\\r\n]/.test(realm)) throw invalidOption('opts.realm must not contain quotes, backslashes or line breaks')
  return realm
}
