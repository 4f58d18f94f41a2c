import type { Principal } from '@wsguard/core'

/** A frozen principal as auth-handshake would make it. */
export function principal (over: Partial<Principal> & { claims?: Record<string, unknown> } = {}): Principal {
  return Object.freeze({
    id: 'alice',
    kind: 'user' as const,
    method: 'jwt' as const,
    issuer: 'https://idp.test',
    scopes: Object.freeze([]),
    sessionId: 'sid-1',
    ...over,
    claims: Object.freeze({ sub: over.id ?? 'alice', ...(over.claims ?? {}) })
  })
}
