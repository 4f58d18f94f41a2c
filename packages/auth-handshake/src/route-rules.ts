import { invalidOption, type WsguardErrorCode } from '@wsguard/core'

/** `config.auth` of a websocket route. */
export interface RouteAuthConfig {
  /** every one of these scopes is required (403 WSG_INSUFFICIENT_SCOPE) */
  scopes?: readonly string[]
  /** a token carrying any scope outside this list is refused (403 WSG_OVERSCOPED_TOKEN) */
  allowedScopes?: readonly string[]
  /**
   * how a client may authenticate on this route. Default: every method the plugin is
   * configured for (`jwt` with `opts.jwt`, `mtls` with `opts.mtls`, `jwt+mtls` with both,
   * `ticket` with `opts.tickets`)
   */
  methods?: ReadonlyArray<'jwt' | 'mtls' | 'jwt+mtls' | 'ticket'>
  /** not an option: `scp` is a token claim; the route's rule is `scopes` */
  scp?: never
  /** not an option: the required scopes are `scopes` */
  requiredScopes?: never
  /**
   * Near misses of the option names (`scope`, `allowedScope`, `method`, …) fail to compile.
   * Fastify types a route's `config` as the augmented `FastifyContextConfig` intersected
   * with the literal's own type, so an arbitrary extra key cannot be a type error; these
   * can. Every unknown key is also refused when the route is added (WSG_INVALID_OPTION).
   */
  [misspelt: `${string}scope` | `${string}Scope` | `${string}method` | `${string}Method`]: never
}

export type RouteMethod = 'jwt' | 'mtls' | 'jwt+mtls' | 'ticket'

export interface RouteRules {
  required: readonly string[]
  /** space-joined required scopes, for the `scope` attribute of the challenge */
  requiredText: string
  allowed: ReadonlySet<string> | undefined
  methods: ReadonlySet<RouteMethod>
}

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/
const ROUTE_KEYS = new Set(['scopes', 'allowedScopes', 'methods'])
const METHODS: readonly RouteMethod[] = ['jwt', 'mtls', 'jwt+mtls', 'ticket']
const NEEDS: Record<RouteMethod, string> = { jwt: 'opts.jwt', mtls: 'opts.mtls', 'jwt+mtls': 'opts.jwt and opts.mtls', ticket: 'opts.tickets' }

function scopeList (value: unknown, path: string): string[] {
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s))) {
    throw invalidOption(`${path} must be an array of scope tokens (RFC 6749 §3.3)`)
  }
  return [...new Set(value as string[])]
}

/**
 * Reads a route's `config.auth` once, when the route is added. `false` opts out;
 * `undefined` means authentication with no scope rule; anything else malformed throws.
 */
export function compileRouteRules (value: unknown, route: string, available: ReadonlySet<RouteMethod>): RouteRules | false {
  if (value === false) return false
  if (value === undefined || value === true) return { required: [], requiredText: '', allowed: undefined, methods: available }
  const path = `route ${route}: config.auth`
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption(`${path} must be false or an object`)
  }
  for (const key of Object.keys(value)) {
    if (!ROUTE_KEYS.has(key)) throw invalidOption(`${path}.${key} is not an option`)
  }
  const v = value as Record<string, unknown>
  const required = v.scopes === undefined ? [] : scopeList(v.scopes, `${path}.scopes`)
  const allowedList = v.allowedScopes === undefined ? undefined : scopeList(v.allowedScopes, `${path}.allowedScopes`)
  if (allowedList !== undefined) {
    const missing = required.filter((s) => !allowedList.includes(s))
    if (missing.length > 0) throw invalidOption(`${path}.allowedScopes must include every required scope (missing ${missing.join(', ')})`)
  }
  let methods = available
  if (v.methods !== undefined) {
    if (!Array.isArray(v.methods) || v.methods.length === 0 || !v.methods.every((m) => METHODS.includes(m))) {
      throw invalidOption(`${path}.methods must be a non-empty array of ${METHODS.join(', ')}`)
    }
    for (const m of v.methods as RouteMethod[]) {
      if (!available.has(m)) throw invalidOption(`${path}.methods: '${m}' needs ${NEEDS[m]}`)
    }
    methods = new Set(v.methods as RouteMethod[])
  }
  return {
    required,
    requiredText: required.join(' '),
    allowed: allowedList === undefined ? undefined : new Set(allowedList),
    methods
  }
}

/** The scope rule a token fails, if any. */
export function checkScopes (scopes: readonly string[], rules: RouteRules): WsguardErrorCode | undefined {
  const { required, allowed } = rules
  // A principal from an app's own code (session-expiry's `authenticate`) could carry scopes that
  // are not an array: refused when the route has a scope rule, never read as "no scopes".
  if (!Array.isArray(scopes)) {
    if (required.length > 0) return 'WSG_INSUFFICIENT_SCOPE'
    return allowed !== undefined ? 'WSG_OVERSCOPED_TOKEN' : undefined
  }
  // Indexed loops: this runs on every handshake and refresh, and builds no iterator.
  for (let i = 0; i < required.length; i++) {
    if (!scopes.includes(required[i] as string)) return 'WSG_INSUFFICIENT_SCOPE'
  }
  if (allowed !== undefined) {
    for (let i = 0; i < scopes.length; i++) {
      if (!allowed.has(scopes[i] as string)) return 'WSG_OVERSCOPED_TOKEN'
    }
  }
  return undefined
}
