import type { Principal, RevocationStore } from '@wsguard/core'

/** A revocation store whose checks wait to be let go: `answer()` settles every check asked so far. */
export interface LateStore {
  readonly store: RevocationStore
  /** how many checks were asked */
  asked(): number
  /** answers every waiting check with what the store held when it was asked */
  answer(): void
}

/**
 * Wraps a store so that its checks answer late, as a remote one (Redis) does: each check
 * waits until the test calls `answer()`, and then answers what the store held when the check
 * was asked. Revocations are recorded and delivered at once, while earlier checks still wait.
 * For tests of revocations that land while a check is in flight.
 */
export function lateAnswers (inner: RevocationStore): LateStore {
  const waiting: Array<() => void> = []
  let asked = 0
  return {
    store: {
      revoke: async (r) => { await inner.revoke(r) },
      isRevoked: async (p: Principal, now: number) => {
        asked++
        const then = await inner.isRevoked(p, now)
        return await new Promise<boolean>((resolve) => { waiting.push(() => { resolve(then) }) })
      },
      subscribe: (l) => inner.subscribe(l)
    },
    asked: () => asked,
    answer: () => { for (const go of waiting.splice(0)) go() }
  }
}
