import { errorCatalogue, type WsguardErrorCode } from './errors.js'
import { refusalCloseCode } from './rejection.js'

/** Codes never sent to a websocket handshake: no close code stands for them under `browserRejection: 'close'`. */
const NOT_AT_HANDSHAKE: ReadonlySet<WsguardErrorCode> = new Set<WsguardErrorCode>([
  'WSG_LOGOUT_TOKEN_INVALID', 'WSG_TICKET_REQUEST_INVALID', 'WSG_INVALID_OPTION', 'WSG_REGISTERED_TWICE'
])

const WHEN: Record<WsguardErrorCode, string> = {
  WSG_BAD_REQUEST: 'malformed upgrade (a Bearer `Authorization` header whose token cannot be read; an upgrade to a route that is not a websocket route and that no plugin admitted; a head whose header lines Node may have dropped, past `server.maxHeadersCount`, here and on the ticket endpoint), or a credential in a carrier the app did not enable; after the upgrade: a malformed control message, or refresh messages past twice `refreshLimit` in a window',
  WSG_AMBIGUOUS_CREDENTIAL: 'more than one credential (two carriers, two headers, two cookies, two query parameters)',
  WSG_CREDENTIAL_MISSING: 'no credential in any enabled carrier',
  WSG_TOKEN_EXPIRED: '`exp` has passed (beyond the clock tolerance); after the upgrade: not refreshed in time',
  WSG_TOKEN_INVALID: 'malformed, bad signature, unknown key, untrusted issuer, wrong audience/typ/alg, missing claim, `nbf`/`iat` in the future, claims fail the schema',
  WSG_TOKEN_REVOKED: 'the token id or subject was revoked',
  WSG_CERT_REQUIRED: 'the route needs a client certificate and none was presented',
  WSG_CERT_UNTRUSTED: 'the client certificate is not trusted, expired or has no acceptable identity',
  WSG_CERT_BINDING_MISMATCH: 'the token is not bound (RFC 8705) to the presented certificate',
  WSG_ORIGIN_DENIED: '`Origin` not in `allowedOrigins`, or missing with `requireOrigin`',
  WSG_INSUFFICIENT_SCOPE: 'the token lacks a scope the route requires',
  WSG_OVERSCOPED_TOKEN: 'the token carries a scope outside the route\'s `allowedScopes`',
  WSG_TOPIC_DENIED: 'the route\'s handshake topic is not allowed for the principal',
  WSG_LOGOUT_TOKEN_INVALID: 'OpenID Connect back-channel logout (auth-handshake\'s `backchannelLogout`): the request is not a form POST with exactly one `logout_token`, or the token fails a check (signature, `alg`, `typ`, `iss`, `aud`, `iat`, `exp`, `jti`, `events`, `sid`/`sub`, `nonce`), or its `jti` was seen before; nothing is revoked. Never after the upgrade',
  WSG_TICKET_INVALID: 'a one-time ticket (auth-handshake\'s `ticket` carrier) that is unknown, expired, already used, or issued for another websocket path or another `Origin`. Never after the upgrade',
  WSG_TICKET_REQUEST_INVALID: 'auth-handshake\'s ticket endpoint (`tickets.path`): the body is not a JSON object `{ "path" }`, or the path is not a governed websocket route that accepts the `ticket` carrier; no ticket is issued. Never after the upgrade',
  WSG_RATE_LIMITED: 'a storm gate refused the handshake (counted across instances with a shared counter store such as `@wsguard/redis`\'s), or the principal already holds session-expiry\'s `maxSessionsPerPrincipal` sessions (counted across instances with a shared registry such as `@wsguard/redis`), with `Retry-After`; at auth-handshake\'s ticket endpoint: the principal already holds `tickets.maxPerPrincipal` unused tickets, with `Retry-After`; after the upgrade: too many in-band refresh attempts (`auth.refresh_failed`)',
  WSG_UNAVAILABLE: 'a dependency (the issuer\'s keys, a shared store: revocations, the session registry, a storm gate\'s counters) is unreachable and the check fails closed, with `Retry-After` from auth-handshake and telemetry; at the back-channel logout endpoint: the keys, the replay store or the revocation store failed, so the logout was not applied (the IdP may retry)',
  WSG_INVALID_OPTION: 'thrown by `register` or a route declaration: an option is invalid (never sent to a client)',
  WSG_REGISTERED_TWICE: 'thrown by `register`: a wsguard plugin is registered a second time where one registration already governs the routes (the same context, or a parent of it); never sent to a client'
}

/** The error catalogue as a Markdown table: docs/errors.md is generated from this. */
export function errorTableMarkdown (): string {
  const rows = (Object.keys(errorCatalogue) as WsguardErrorCode[]).map((code) => {
    const def: { status: number, closeCode?: number, bearer?: string } = errorCatalogue[code]
    const asClose = NOT_AT_HANDSHAKE.has(code) ? '–' : refusalCloseCode(code)
    return `| \`${code}\` | ${def.status} | ${asClose} | ${def.closeCode ?? '–'} | ${def.bearer ?? '–'} | ${WHEN[code]} |`
  })
  const head = '| code | HTTP status before the upgrade | close code instead, with `browserRejection: \'close\'` | close code after | RFC 6750 `error` | when |'
  return [head, '|---|---:|---:|---:|---|---|', ...rows].join('\n') + '\n'
}
