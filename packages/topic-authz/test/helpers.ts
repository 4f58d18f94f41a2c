import type { Test } from 'tap'
import fc from 'fast-check'
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

/** Runs a property and asserts it held for every run (fast-check's report is the message). */
export function holds (t: Test, property: fc.IProperty<never> | fc.IProperty<unknown[]>, numRuns: number): void {
  const details = fc.check(property as fc.IProperty<unknown[]>, { numRuns })
  t.equal(details.failed, false, fc.defaultReportMessage(details) ?? '')
  t.equal(details.numRuns, numRuns)
}
