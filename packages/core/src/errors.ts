import createError, { type FastifyErrorConstructor } from '@fastify/error'
import { CloseCode } from './close-codes.js'

export const ERROR_PREFIX = 'WSG_'

/** RFC 6750 §3.1 error attribute sent in `WWW-Authenticate` for bearer failures. */
export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

interface ErrorDefinition {
  readonly status: number
  readonly message: string
  /** close code when the same condition ends an open socket; absent when it cannot happen after the upgrade */
  readonly closeCode?: number
  readonly bearer?: BearerError
}

/**
 * The catalogue: every code wsguard answers with. Messages are constant text and
 * never carry a credential; `%s` is filled only with option paths at registration.
 */
export const errorCatalogue = {
  WSG_BAD_REQUEST: { status: 400, message: 'Malformed upgrade request or credential in a carrier this route does not accept', closeCode: CloseCode.BAD_CONTROL_MESSAGE, bearer: 'invalid_request' },
  WSG_AMBIGUOUS_CREDENTIAL: { status: 400, message: 'More than one credential was presented', bearer: 'invalid_request' },
  WSG_CREDENTIAL_MISSING: { status: 401, message: 'A credential is required' },
  WSG_TOKEN_EXPIRED: { status: 401, message: 'The token has expired', closeCode: CloseCode.CREDENTIAL_EXPIRED, bearer: 'invalid_token' },
  WSG_TOKEN_INVALID: { status: 401, message: 'The token is invalid', bearer: 'invalid_token' },
  WSG_TOKEN_REVOKED: { status: 401, message: 'The token has been revoked', closeCode: CloseCode.REVOKED, bearer: 'invalid_token' },
  WSG_CERT_REQUIRED: { status: 401, message: 'A client certificate is required' },
  WSG_CERT_UNTRUSTED: { status: 401, message: 'The client certificate is not trusted' },
  WSG_CERT_BINDING_MISMATCH: { status: 401, message: 'The token is not bound to the presented client certificate', bearer: 'invalid_token' },
  WSG_ORIGIN_DENIED: { status: 403, message: 'Origin not allowed' },
  WSG_INSUFFICIENT_SCOPE: { status: 403, message: 'The token lacks a scope this route requires', bearer: 'insufficient_scope' },
  WSG_OVERSCOPED_TOKEN: { status: 403, message: 'The token carries scopes this route does not allow', bearer: 'insufficient_scope' },
  WSG_TOPIC_DENIED: { status: 403, message: 'Topic not allowed' },
  WSG_LOGOUT_TOKEN_INVALID: { status: 400, message: 'The logout request or its logout token is invalid' },
  WSG_TICKET_INVALID: { status: 401, message: 'The ticket is unknown, expired, already used, or not for this route or origin' },
  WSG_TICKET_REQUEST_INVALID: { status: 400, message: 'A ticket request is a JSON body { "path" } naming a websocket route that accepts tickets' },
  WSG_RATE_LIMITED: { status: 429, message: 'Too many connection attempts', closeCode: CloseCode.TOO_MANY_SESSIONS },
  WSG_UNAVAILABLE: { status: 503, message: 'An authentication dependency is unavailable' },
  WSG_INVALID_OPTION: { status: 500, message: 'Invalid option: %s' },
  WSG_REGISTERED_TWICE: { status: 500, message: 'Registered twice: %s' }
} as const satisfies Record<string, ErrorDefinition>

export type WsguardErrorCode = keyof typeof errorCatalogue

export type WsguardError = Error & {
  readonly code: WsguardErrorCode
  readonly statusCode: number
}

const constructors = new Map<WsguardErrorCode, FastifyErrorConstructor>()
for (const [code, def] of Object.entries(errorCatalogue) as Array<[WsguardErrorCode, ErrorDefinition]>) {
  constructors.set(code, createError(code, def.message, def.status))
}

/** The `@fastify/error` constructor of a code, for `instanceof` checks. */
export function errorClass (code: WsguardErrorCode): FastifyErrorConstructor {
  return constructors.get(code) as FastifyErrorConstructor
}

/** Builds the error of a code; `args` fill `%s` in its message. */
export function wsgError (code: WsguardErrorCode, ...args: string[]): WsguardError {
  const Ctor = errorClass(code)
  return new Ctor(...args) as unknown as WsguardError
}

/** Registration-time failure naming the option path, e.g. `invalidOption('opts.jwt.audience must be a string')`. */
export function invalidOption (message: string): WsguardError {
  return wsgError('WSG_INVALID_OPTION', message)
}

export function isWsguardError (err: unknown): err is WsguardError {
  const code = (err as { code?: unknown } | null)?.code
  return err instanceof Error && typeof code === 'string' && Object.hasOwn(errorCatalogue, code)
}

/** Status, close code and RFC 6750 error of a code, for docs and for plugins' responses. */
export function errorInfo (code: WsguardErrorCode): ErrorDefinition {
  return errorCatalogue[code]
}
