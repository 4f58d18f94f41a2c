import t from 'tap'
import { FakeClock } from '@wsguard/testing'
import type { ReplayStore } from '@wsguard/core'
import { MemoryReplayStore } from '../src/index.js'
import { form, logoutApp, logoutClaims, logoutToken, T0 } from './logout-helpers.js'

// Instances share one replay store (@wsguard/redis), each judging a logout token's age by its
// own clock, which may run up to clockToleranceMs behind another's. The jti was kept only as
// long as the instance that claimed it would accept the token: an instance running behind
// still took it as fresh after that, claimed its jti anew and applied the logout again, closing
// (4403) the sockets of a sign-in made after it. It is now kept one tolerance longer.

const TOLERANCE = 5_000
const MAX_AGE = 120_000

/** A replay store that notes the `until` of each claim. */
function noting (): { replays: ReplayStore, untils: number[] } {
  const inner = new MemoryReplayStore({ clock: new FakeClock(T0) })
  const untils: number[] = []
  return { untils, replays: { claim: (id, until) => { untils.push(until); return inner.claim(id, until) }, release: (id) => inner.release(id) } }
}

for (const [name, claims] of [
  ['with no exp: bounded by maxTokenAgeMs', logoutClaims(T0, { exp: undefined })],
  ['with an exp before the age limit', logoutClaims(T0, { exp: Math.floor(T0 / 1000) + 60 })]
] as const) {
  t.test(`${name}: the jti is kept until no instance up to the tolerance behind would take the token`, async (t) => {
    const token = logoutToken(claims)
    const first = noting()
    const a = await logoutApp(t, { replays: first.replays, clockToleranceMs: TOLERANCE, maxTokenAgeMs: MAX_AGE })
    t.equal((await a.post(form({ logout_token: token }))).statusCode, 200, 'applied at the instance that claims it')
    const [until] = first.untils
    t.ok(until !== undefined)
    // The latest instant at which the claiming instance itself would still take the token.
    const own = typeof claims.exp === 'number' ? claims.exp * 1000 + TOLERANCE : T0 + MAX_AGE + TOLERANCE
    t.equal(until, own + TOLERANCE, 'one tolerance past the claiming instance\'s own limit')

    // Just past `until` (real time; a store keeps an id through its until), an instance whose
    // clock runs the whole tolerance behind must refuse the token by its age, whatever its
    // replay store says.
    const behind = await logoutApp(t, { replays: noting().replays, clockToleranceMs: TOLERANCE, maxTokenAgeMs: MAX_AGE })
    behind.clock.set((until as number) + 1 - TOLERANCE)
    const late = await behind.post(form({ logout_token: token }))
    t.equal(late.statusCode, 400, 'refused as too old or expired, not by the replay store')
    t.equal(behind.store.revoked.length, 0)
    // One millisecond earlier it would still take it: the bound is not padded past what is needed.
    const edge = await logoutApp(t, { replays: noting().replays, clockToleranceMs: TOLERANCE, maxTokenAgeMs: MAX_AGE })
    edge.clock.set((until as number) - TOLERANCE - 1)
    t.equal((await edge.post(form({ logout_token: token }))).statusCode, 200)
  })
}
