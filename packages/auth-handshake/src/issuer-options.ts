import type { TSchema } from '@sinclair/typebox'
import { invalidOption, timerDelay, type PrincipalKind, type StandardClaims } from '@wsguard/core'
import { HMAC_ALGORITHMS, JWS_ALGORITHMS, isHmacAlgorithm, isJwsAlgorithm, type HmacAlgorithm, type JwsAlgorithm } from './algorithms.js'
import { bool, duration, fetchableUrl, noUserinfo, isObject, nonEmptyString, positiveInteger, stringList, unknownKeys } from './option-checks.js'

/** A JSON Web Key Set, as served at an issuer's `jwks_uri`. */
export interface JsonWebKeySet { keys: ReadonlyArray<Record<string, unknown>> }

/** Which registration of the app's `@fastify/jwt` verifies an issuer's tokens. */
export interface FastifyJwtSource {
  /** the `namespace` `@fastify/jwt` was registered with. Default: its registration without a namespace */
  namespace?: string
  /**
   * the name of its request method, when `@fastify/jwt` was registered with a `jwtVerify`
   * option. Default `'jwtVerify'`, or `'<namespace>JwtVerify'` with a namespace
   */
  jwtVerify?: string
}

/** What every trusted issuer says, whoever holds its keys. */
export interface JwtIssuerCommonOptions {
  /** exact `iss` value; discovery reads `<issuer>/.well-known/openid-configuration` */
  issuer: string
  /** accepted `aud` values; a token must name at least one */
  audience: string | readonly string[]
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
  /**
   * RFC 8705 certificate-bound tokens: `'required'` refuses a token without `cnf["x5t#S256"]`
   * (401 WSG_CERT_BINDING_MISMATCH). A token that has one is always checked against the
   * presented client certificate, whatever this says. Default `'optional'`
   */
  certificateBound?: 'required' | 'optional'
}

/**
 * Where an issuer's public keys come from, when wsguard holds them (the handshake's issuers
 * without `fastifyJwt`, and back-channel logout's), and how often they are fetched.
 */
export interface KeySetOptions {
  /** find `jwks_uri` by OpenID Connect discovery. One of `discovery`, `jwksUri`, `jwks` (or a handshake issuer's `fastifyJwt`) is required. */
  discovery?: boolean
  /** where the issuer's keys are served: https: (http: on a loopback host only), with no user or password in it */
  jwksUri?: string
  /** static keys, fetched from nowhere */
  jwks?: JsonWebKeySet
  /** least time between two key-set fetches triggered by an unknown `kid`, ms. Default 30_000 */
  jwksCooldownMs?: number
  /** key-set age after which it is refreshed in the background, ms. Default 600_000 */
  jwksMaxAgeMs?: number
  /** timeout of one discovery or key-set request, ms. Default 5_000 */
  jwksTimeoutMs?: number
}

/** An issuer whose public keys wsguard fetches (discovery, `jwksUri`) or is given (`jwks`). */
export interface JwtKeySetIssuerOptions extends JwtIssuerCommonOptions, KeySetOptions {
  /** JWS algorithms accepted from this issuer (required, no default) */
  algorithms: readonly JwsAlgorithm[]
  fastifyJwt?: undefined
  allowHmac?: undefined
  verifyTimeoutMs?: undefined
}

interface JwtFastifyJwtCommonOptions extends JwtIssuerCommonOptions {
  /**
   * verify the signature with the app's registered `@fastify/jwt` (its secret or key
   * function, e.g. `get-jwks`, and its verify options), then apply every check of this
   * issuer. `true`: its registration without a namespace
   */
  fastifyJwt: true | FastifyJwtSource
  /** longest wait for `@fastify/jwt`'s verification (its key function), ms; then 503. Default 5_000 */
  verifyTimeoutMs?: number
  discovery?: undefined
  jwksUri?: undefined
  jwks?: undefined
  jwksCooldownMs?: undefined
  jwksMaxAgeMs?: undefined
  jwksTimeoutMs?: undefined
}

/** An issuer verified by the app's `@fastify/jwt`, with public-key algorithms. */
export interface JwtFastifyJwtIssuerOptions extends JwtFastifyJwtCommonOptions {
  /** JWS algorithms accepted from this issuer (required, no default) */
  algorithms: readonly JwsAlgorithm[]
  allowHmac?: false
}

/**
 * An issuer verified by the app's `@fastify/jwt` with a shared secret. Read the README's
 * "HMAC keys" first: whoever holds the secret can mint tokens, and every token the secret
 * signs (one minted for an HTTP API, too) opens sockets.
 */
export interface JwtFastifyJwtHmacIssuerOptions extends JwtFastifyJwtCommonOptions {
  /** HMAC algorithms only: never mixed with public-key ones (key confusion) */
  algorithms: readonly HmacAlgorithm[]
  /** accept HS256/HS384/HS512 tokens: the explicit opt-in */
  allowHmac: true
}

/** One trusted token issuer. */
export type JwtIssuerOptions = JwtKeySetIssuerOptions | JwtFastifyJwtIssuerOptions | JwtFastifyJwtHmacIssuerOptions

export const DEFAULT_CLOCK_TOLERANCE_MS = 5_000
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000
export const DEFAULT_JWKS_MAX_AGE_MS = 600_000
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000
export const DEFAULT_VERIFY_TIMEOUT_MS = 5_000

/** A validated `fastifyJwt`. */
export interface FastifyJwtConfig {
  namespace: string | undefined
  jwtVerify: string | undefined
}

export interface IssuerConfig {
  issuer: string
  audiences: readonly string[]
  algorithms: ReadonlyArray<JwsAlgorithm | HmacAlgorithm>
  discovery: boolean
  jwksUri: string | undefined
  jwks: JsonWebKeySet | undefined
  /** verified by the app's @fastify/jwt instead of wsguard's own key sets */
  fastifyJwt: FastifyJwtConfig | undefined
  verifyTimeoutMs: number
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

/** The keys of `KeySetOptions`: where the keys come from, then how often they are fetched. */
export const KEY_SET_KEYS = ['discovery', 'jwksUri', 'jwks', 'jwksCooldownMs', 'jwksMaxAgeMs', 'jwksTimeoutMs'] as const
const ISSUER_KEYS = new Set(['issuer', 'audience', 'algorithms', ...KEY_SET_KEYS, 'fastifyJwt', 'allowHmac', 'verifyTimeoutMs',
  'clockToleranceMs', 'maxTokenAgeMs', 'typ', 'claims', 'kind', 'certificateBound'])
const KEY_SET_ONLY = ['jwksCooldownMs', 'jwksMaxAgeMs', 'jwksTimeoutMs'] as const
const SOURCE_KEYS = new Set(['namespace', 'jwtVerify'])

function validateFastifyJwt (value: unknown, path: string): FastifyJwtConfig {
  if (value === true) return { namespace: undefined, jwtVerify: undefined }
  if (!isObject(value)) throw invalidOption(`${path} must be true or { namespace?, jwtVerify? }`)
  unknownKeys(value, SOURCE_KEYS, path)
  return {
    namespace: value.namespace === undefined ? undefined : nonEmptyString(value.namespace, `${path}.namespace`),
    jwtVerify: value.jwtVerify === undefined ? undefined : nonEmptyString(value.jwtVerify, `${path}.jwtVerify`)
  }
}

/** The algorithm list: public-key algorithms, or (with the opt-in) HMAC ones, never both. */
function validateAlgorithms (algs: unknown, allowHmac: boolean, path: string): Array<JwsAlgorithm | HmacAlgorithm> {
  const known = allowHmac ? HMAC_ALGORITHMS : JWS_ALGORITHMS
  if (!Array.isArray(algs) || algs.length === 0) throw invalidOption(`${path} must be a non-empty array of ${known.join(', ')}`)
  for (const alg of algs) {
    if (isHmacAlgorithm(alg) && !allowHmac) {
      throw invalidOption(`${path}: ${JSON.stringify(alg)} is an HMAC algorithm, refused unless the issuer has fastifyJwt and ` +
        'allowHmac: true (whoever holds the shared secret can mint tokens)')
    }
    if (!isJwsAlgorithm(alg) && !isHmacAlgorithm(alg)) throw invalidOption(`${path}: ${JSON.stringify(alg)} is not one of ${known.join(', ')}`)
    if (allowHmac && !isHmacAlgorithm(alg)) {
      throw invalidOption(`${path}: ${JSON.stringify(alg)} is a public-key algorithm; with allowHmac: true every algorithm ` +
        `must be one of ${HMAC_ALGORITHMS.join(', ')} (a key usable for both invites key confusion)`)
    }
  }
  return [...new Set(algs as Array<JwsAlgorithm | HmacAlgorithm>)]
}

export function validateIssuer (value: unknown, path: string): IssuerConfig {
  if (!isObject(value)) throw invalidOption(`${path} must be an object`)
  unknownKeys(value, ISSUER_KEYS, path)
  const issuer = nonEmptyString(value.issuer, `${path}.issuer`)
  const audiences = stringList(value.audience, `${path}.audience`)
  const fastifyJwt = value.fastifyJwt === undefined ? undefined : validateFastifyJwt(value.fastifyJwt, `${path}.fastifyJwt`)
  const allowHmac = bool(value.allowHmac, `${path}.allowHmac`, false)
  if (allowHmac && fastifyJwt === undefined) {
    throw invalidOption(`${path}.allowHmac needs fastifyJwt: wsguard's own key sets never hold shared secrets`)
  }
  const algorithms = validateAlgorithms(value.algorithms, allowHmac, `${path}.algorithms`)
  const discovery = bool(value.discovery, `${path}.discovery`, false)
  const sources = [discovery, value.jwksUri !== undefined, value.jwks !== undefined, fastifyJwt !== undefined].filter(Boolean).length
  if (sources !== 1) throw invalidOption(`${path} needs exactly one of discovery: true, jwksUri, jwks, fastifyJwt`)
  if (fastifyJwt !== undefined) {
    for (const key of KEY_SET_ONLY) {
      if (value[key] !== undefined) {
        throw invalidOption(`${path}.${key} applies to key sets wsguard fetches; with fastifyJwt, @fastify/jwt's secret or ` +
          'key function provides the keys (its wait is bounded by verifyTimeoutMs)')
      }
    }
  } else if (value.verifyTimeoutMs !== undefined) {
    throw invalidOption(`${path}.verifyTimeoutMs needs fastifyJwt (key-set fetches are bounded by jwksTimeoutMs)`)
  }
  if (discovery) fetchableUrl(issuer, `${path}.issuer`)
  else noUserinfo(issuer, `${path}.issuer`)
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
    algorithms,
    discovery,
    jwksUri,
    jwks,
    fastifyJwt,
    verifyTimeoutMs: timerDelay(positiveInteger(value.verifyTimeoutMs, `${path}.verifyTimeoutMs`, DEFAULT_VERIFY_TIMEOUT_MS), `${path}.verifyTimeoutMs`),
    clockToleranceMs: duration(value.clockToleranceMs, `${path}.clockToleranceMs`, DEFAULT_CLOCK_TOLERANCE_MS),
    maxTokenAgeMs: duration(value.maxTokenAgeMs, `${path}.maxTokenAgeMs`, undefined),
    typ,
    claims: value.claims as TSchema | undefined,
    kind: value.kind as IssuerConfig['kind'],
    jwksCooldownMs: duration(value.jwksCooldownMs, `${path}.jwksCooldownMs`, DEFAULT_JWKS_COOLDOWN_MS),
    jwksMaxAgeMs: duration(value.jwksMaxAgeMs, `${path}.jwksMaxAgeMs`, DEFAULT_JWKS_MAX_AGE_MS),
    jwksTimeoutMs: timerDelay(positiveInteger(value.jwksTimeoutMs, `${path}.jwksTimeoutMs`, DEFAULT_JWKS_TIMEOUT_MS), `${path}.jwksTimeoutMs`),
    certificateBound: value.certificateBound === 'required'
  }
}
