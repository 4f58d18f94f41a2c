import { randomId } from '@wsguard/core'
import type { Principal, PrincipalKind, StandardClaims } from '@wsguard/core'
import { readScopes } from './claims.js'

/** Freezes a value and everything it holds. */
export function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    const keys = Object.keys(value)
    for (let k = 0; k < keys.length; k++) deepFreeze((value as Record<string, unknown>)[keys[k] as string])
  }
  return value
}

export function defaultKind (claims: StandardClaims): PrincipalKind {
  return typeof claims.client_id === 'string' && claims.client_id === claims.sub ? 'workload' : 'user'
}

/** The frozen principal of a verified token. */
export function principalFromClaims (claims: StandardClaims, kind: PrincipalKind): Principal {
  const principal: {
    -readonly [K in keyof Principal]: Principal[K]
  } = {
    id: claims.sub as string,
    kind,
    method: 'jwt',
    issuer: claims.iss as string,
    // checkClaims refused, before the signature, any scope claim readScopes cannot read.
    scopes: Object.freeze(readScopes(claims) as string[]),
    // The same claims object is returned on a verified-token cache hit: freezing it keeps it shared and safe.
    claims: deepFreeze(claims) as Principal['claims'],
    sessionId: typeof claims.sid === 'string' && claims.sid.length > 0 ? claims.sid : randomId()
  }
  if (typeof claims.jti === 'string') principal.tokenId = claims.jti
  principal.expiresAt = (claims.exp as number) * 1000
  return Object.freeze(principal)
}
