import type { TSchema } from '@sinclair/typebox'
import { invalidOption, isClock, systemClock, type Clock, type PrincipalKind, type StandardClaims } from '@wsguard/core'
import { JWS_ALGORITHMS, isJwsAlgorithm, type JwsAlgorithm } from './algorithms.js'
import { isFetchableUrl } from './urls.js'
import { validateMtls, type MtlsConfig, type MtlsOptions } from './mtls.js'

export type Carrier = 'header' | 'subprotocol' | 'cookie' | 'query'
export const CARRIERS: readonly Carrier[] = Object.freeze(['header', 'subprotocol', 'cookie', 'query'])

/** A JSON Web Key Set, as served at an issuer's `jwks_uri`. */
export interface JsonWebKeySet { keys: ReadonlyArray<Record<string, unknown>> }

/** One trusted token issuer. */
export interface JwtIssuerOptions {
  /** exact `iss` value; discovery reads `<issuer>/.well-known/openid-configuration` */
  issuer: string
  /** accepted `aud` values; a token must name at least one */
  audience: string | readonly string[]
  /** JWS algorithms accepted from this issuer (required, no default) */
  algorithms: readonly JwsAlgorithm[]
  /** find `jwks_uri` by OpenID Connect discovery. One of `discovery`, `jwksUri`, `jwks` is required. */
  discovery?: boolean
  /** where the issuer's keys are served */
  jwksUri?: string
  /** static keys, fetched from nowhere */
  jwks?: JsonWebKeySet
  /** tolerance for `exp`, `nbf` and `iat`, ms (clock skew between the IdP and this server). Default 5_000 */
  clockToleranceMs?: number
  /** refuse tokens whose `iat` is older than this, ms. Default: no limit */
  maxTokenAgeMs?: number
  /** required `typ` header, e.g. `at+jwt` (RFC 9068); compared case-insensitively, `application/` optional */
  typ?: string
  /** TypeBox schema the token's claims must match; a mismatch is 401 WSG_TOKEN_INVALID */
  claims?: TSchema
  /** principal kind of a token. Default: `workload` when `client_id` equals `sub`, else `user` */
  kind?: (claims: StandardClaims) => PrincipalKind
  /** least time between two key-set fetches triggered by an unknown `kid`, ms. Default 30_000 */
  jwksCooldownMs?: number
  /** key-set age after which it is refreshed in the background, ms. Default 600_000 */
  jwksMaxAgeMs?: number
  /** timeout of one discovery or key-set request, ms. Default 5_000 */
  jwksTimeoutMs?: number
  /**
   * RFC 8705 certificate-bound tokens: `'required'` refuses a token without `cnf["x5t#S256"]`
   * (401 WSG_CERT_BINDING_MISMATCH). A token that has one is always checked against the
   * presented client certificate, whatever this says. Default `'optional'`
   */
  certificateBound?: 'required' | 'optional'
}

export interface AuthHandshakeOptions {
  /** trusted issuer(s); with `mtls`, may be left out for certificate-only services */
  jwt?: JwtIssuerOptions | readonly JwtIssuerOptions[]
  /** client certificates (mTLS) and workload identity */
  mtls?: MtlsOptions
  /** where a credential may be presented. Default `['header', 'subprotocol']` */
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
  /** time source. Default `Date.now` */
  clock?: Clock
}

export const DEFAULT_CARRIERS: readonly Carrier[] = Object.freeze(['header', 'subprotocol'])
export const DEFAULT_COOKIE_NAME = 'access_token'
export const DEFAULT_QUERY_PARAMETER = 'access_token'
export const DEFAULT_SUBPROTOCOL_PREFIX = 'bearer.'
export const DEFAULT_REALM = 'wsguard'
export const DEFAULT_MAX_TOKEN_BYTES = 8192
export const DEFAULT_CLOCK_TOLERANCE_MS = 5_000
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000
export const DEFAULT_JWKS_MAX_AGE_MS = 600_000
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000
export const DEFAULT_VERIFIED_TOKEN_CACHE_SIZE = 1024
export const DEFAULT_VERIFIED_TOKEN_CACHE_TTL_MS = 600_000

export interface IssuerConfig {
  issuer: string
  audiences: readonly string[]
  algorithms: readonly JwsAlgorithm[]
  discovery: boolean
  jwksUri: string | undefined
  jwks: JsonWebKeySet | undefined
  clockToleranceMs: number
  maxTokenAgeMs: number | undefined
  typ: string | undefined
  claims: TSchema | undefined
  kind: ((claims: StandardClaims) => PrincipalKind) | undefined
  jwksCooldownMs: number
  jwksMaxAgeMs: number
  jwksTimeoutMs: number
  certificateBound: boolean
}

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
  clock: Clock
}

const OPTION_KEYS = new Set(['jwt', 'mtls', 'carriers', 'cookieName', 'queryParameter', 'subprotocolPrefix', 'allowedOrigins',
  'requireOrigin', 'realm', 'maxTokenBytes', 'verifiedTokenCacheSize', 'verifiedTokenCacheTtlMs', 'redactLogs', 'clock'])
const ISSUER_KEYS = new Set(['issuer', 'audience', 'algorithms', 'discovery', 'jwksUri', 'jwks', 'clockToleranceMs',
  'maxTokenAgeMs', 'typ', 'claims', 'kind', 'jwksCooldownMs', 'jwksMaxAgeMs', 'jwksTimeoutMs', 'certificateBound'])
const TOKEN_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function nonEmptyString (value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidOption(`${path} must be a non-empty string`)
  return value
}

export function duration (value: unknown, path: string, fallback: number): number
export function duration (value: unknown, path: string, fallback: undefined): number | undefined
export function duration (value: unknown, path: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalidOption(`${path} must be a finite number of milliseconds, 0 or more`)
  }
  return value
}

export function positiveInteger (value: unknown, path: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalidOption(`${path} must be an integer, ${min} or more`)
  }
  return value
}

export function bool (value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalidOption(`${path} must be a boolean`)
  return value
}

export function unknownKeys (value: Record<string, unknown>, known: Set<string>, path: string): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw invalidOption(`${path}.${key} is not an option`)
  }
}

/** `https:` URL, or `http:` on a loopback host (tests, local IdPs). */
function fetchableUrl (value: unknown, path: string): string {
  const text = nonEmptyString(value, path)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw invalidOption(`${path} must be an absolute URL`)
  }
  if (!isFetchableUrl(url)) {
    throw invalidOption(`${path} must be an https: URL (http: only on a loopback host)`)
  }
  return text
}

function stringList (value: unknown, path: string): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v.length > 0)) {
    throw invalidOption(`${path} must be a non-empty string or a non-empty array of non-empty strings`)
  }
  return [...new Set(list as string[])]
}

export function validateIssuer (value: unknown, path: string): IssuerConfig {
  if (!isObject(value)) throw invalidOption(`${path} must be an object`)
  unknownKeys(value, ISSUER_KEYS, path)
  const issuer = nonEmptyString(value.issuer, `${path}.issuer`)
  const audiences = stringList(value.audience, `${path}.audience`)
  const algs = value.algorithms
  if (!Array.isArray(algs) || algs.length === 0) {
    throw invalidOption(`${path}.algorithms must be a non-empty array of ${JWS_ALGORITHMS.join(', ')}`)
  }
  for (const alg of algs) {
    if (!isJwsAlgorithm(alg)) {
      throw invalidOption(`${path}.algorithms: ${JSON.stringify(alg)} is not one of ${JWS_ALGORITHMS.join(', ')}`)
    }
  }
  const discovery = bool(value.discovery, `${path}.discovery`, false)
  const sources = [discovery, value.jwksUri !== undefined, value.jwks !== undefined].filter(Boolean).length
  if (sources !== 1) throw invalidOption(`${path} needs exactly one of discovery: true, jwksUri, jwks`)
  if (discovery) fetchableUrl(issuer, `${path}.issuer`)
  const jwksUri = value.jwksUri === undefined ? undefined : fetchableUrl(value.jwksUri, `${path}.jwksUri`)
  let jwks: JsonWebKeySet | undefined
  if (value.jwks !== undefined) {
    if (!isObject(value.jwks) || !Array.isArray(value.jwks.keys)) throw invalidOption(`${path}.jwks must be { keys: [...] }`)
    jwks = { keys: structuredClone(value.jwks.keys) as Array<Record<string, unknown>> }
  }
  let typ: string | undefined
  if (value.typ !== undefined) typ = nonEmptyString(value.typ, `${path}.typ`).toLowerCase().replace(/^application\//, '')
  if (value.claims !== undefined && (!isObject(value.claims) || !(Symbol.for('TypeBox.Kind') in value.claims))) {
    throw invalidOption(`${path}.claims must be a TypeBox schema`)
  }
  if (value.kind !== undefined && typeof value.kind !== 'function') throw invalidOption(`${path}.kind must be a function`)
  if (value.certificateBound !== undefined && value.certificateBound !== 'required' && value.certificateBound !== 'optional') {
    throw invalidOption(`${path}.certificateBound must be 'required' or 'optional'`)
  }
  return {
    issuer,
    audiences,
    algorithms: [...new Set(algs as JwsAlgorithm[])],
    discovery,
    jwksUri,
    jwks,
    clockToleranceMs: duration(value.clockToleranceMs, `${path}.clockToleranceMs`, DEFAULT_CLOCK_TOLERANCE_MS),
    maxTokenAgeMs: duration(value.maxTokenAgeMs, `${path}.maxTokenAgeMs`, undefined),
    typ,
    claims: value.claims as TSchema | undefined,
    kind: value.kind as IssuerConfig['kind'],
    jwksCooldownMs: duration(value.jwksCooldownMs, `${path}.jwksCooldownMs`, DEFAULT_JWKS_COOLDOWN_MS),
    jwksMaxAgeMs: duration(value.jwksMaxAgeMs, `${path}.jwksMaxAgeMs`, DEFAULT_JWKS_MAX_AGE_MS),
    jwksTimeoutMs: positiveInteger(value.jwksTimeoutMs, `${path}.jwksTimeoutMs`, DEFAULT_JWKS_TIMEOUT_MS),
    certificateBound: value.certificateBound === 'required'
  }
}

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
  return {
    issuers,
    mtls: opts.mtls === undefined ? undefined : validateMtls(opts.mtls),
    carriers,
    cookieName,
    queryParameter: opts.queryParameter === undefined ? DEFAULT_QUERY_PARAMETER : nonEmptyString(opts.queryParameter, 'opts.queryParameter'),
    subprotocolPrefix: (opts.subprotocolPrefix === undefined ? DEFAULT_SUBPROTOCOL_PREFIX : nonEmptyString(opts.subprotocolPrefix, 'opts.subprotocolPrefix')).toLowerCase(),
    allowedOrigins,
    requireOrigin: bool(opts.requireOrigin, 'opts.requireOrigin', false),
    realm: validateRealm(opts.realm),
    maxTokenBytes: positiveInteger(opts.maxTokenBytes, 'opts.maxTokenBytes', DEFAULT_MAX_TOKEN_BYTES, 16),
    verifiedTokenCacheSize: positiveInteger(opts.verifiedTokenCacheSize, 'opts.verifiedTokenCacheSize', DEFAULT_VERIFIED_TOKEN_CACHE_SIZE, 0),
    verifiedTokenCacheTtlMs: duration(opts.verifiedTokenCacheTtlMs, 'opts.verifiedTokenCacheTtlMs', DEFAULT_VERIFIED_TOKEN_CACHE_TTL_MS),
    redactLogs: bool(opts.redactLogs, 'opts.redactLogs', true),
    clock: (opts.clock as Clock | undefined) ?? systemClock
  }
}

function validateRealm (value: unknown): string {
  if (value === undefined) return DEFAULT_REALM
  const realm = nonEmptyString(value, 'opts.realm')
  if (/["\\\r\n]/.test(realm)) throw invalidOption('opts.realm must not contain quotes, backslashes or line breaks')
  return realm
}
