import { asNativePromise, principalKey, type Principal, type PrincipalRef, type SessionRegistry } from '@wsguard/core'

/** How long a handshake admitted under the cap holds its place without its socket opening, ms. */
export const HOLD_MS = 10_000

/** The key the cap counts a principal under (core's, as the Redis registry's). */
export function principalKeyOf (p: Principal): string {
  return principalKey(p.id, p.issuer)
}

function refOf (p: Principal): PrincipalRef {
  return p.issuer === undefined ? { subject: p.id } : { subject: p.id, issuer: p.issuer }
}

/** A count asked of the registry, settled by `admit()` or `drop()`. */
export interface CapCheck {
  readonly principal: Principal
  readonly key: string
  /** the principal's local openings when the count was asked; -1 when it was answered at once */
  readonly mark: number
  /** open sessions as the registry counts them */
  readonly open: number | Promise<number>
}

/**
 * `maxSessionsPerPrincipal`: open sessions of a principal, from the registry (this process's
 * when none is given, every instance's with a shared one), plus what that count cannot know
 * yet: sessions this process opened between an asynchronous count being asked and the
 * decision (a shared registry answers with what it held when asked), and handshakes
 * admitted whose sockets have not opened yet (they hold a place; one not taken within
 * `HOLD_MS`, an upgrade that failed after the check, is given back). So handshakes of one
 * principal racing on one instance cannot all pass.
 */
export class SessionCap {
  readonly max: number
  readonly #registry: SessionRegistry | undefined
  readonly #open = new Map<string, number>()
  readonly #held = new Map<string, Map<object, number>>()
  /** per principal with a count in flight: how many counts, and the sessions opened meanwhile */
  readonly #asks = new Map<string, { pending: number, openings: number }>()

  /** `registry` undefined: count this process's open sessions. */
  constructor (max: number, registry: SessionRegistry | undefined) {
    this.max = max
    this.#registry = registry
  }

  /** Asks how many sessions the principal holds; settle the answer with `admit()` or `drop()`. */
  check (principal: Principal): CapCheck {
    const key = principalKeyOf(principal)
    const open = this.#count(principal)
    if (!(open instanceof Promise)) return { principal, key, mark: -1, open }
    let ask = this.#asks.get(key)
    if (ask === undefined) this.#asks.set(key, ask = { pending: 0, openings: 0 })
    ask.pending++
    return { principal, key, mark: ask.openings, open }
  }

  /**
   * Settles a check with the registry's answer: whether one more session fits, at `now`. If
   * it does, the handshake (`token`: its raw request) holds a place until `release()`.
   */
  admit (check: CapCheck, open: number, token: object, now: number): boolean {
    const total = open + this.#settle(check) + this.#heldCount(check.key, now)
    if (total >= this.max) return false
    let held = this.#held.get(check.key)
    if (held === undefined) this.#held.set(check.key, held = new Map())
    held.set(token, now)
    return true
  }

  /** Settles a check whose count failed. */
  drop (check: CapCheck): void { this.#settle(check) }

  /** Gives a held place back (the socket opened, or the handshake was refused later). */
  release (principal: Principal, token: object): void {
    const key = principalKeyOf(principal)
    const held = this.#held.get(key)
    if (held?.delete(token) === true && held.size === 0) this.#held.delete(key)
  }

  /** A session of the principal opened / ended on this process. */
  opened (principal: Principal): void {
    const key = principalKeyOf(principal)
    this.#open.set(key, (this.#open.get(key) ?? 0) + 1)
    const ask = this.#asks.get(key)
    if (ask !== undefined) ask.openings++
  }

  ended (principal: Principal): void {
    const key = principalKeyOf(principal)
    // Only a session counted by opened() ends here (Session.counted), so the key is present.
    const n = (this.#open.get(key) as number) - 1
    if (n <= 0) this.#open.delete(key)
    else this.#open.set(key, n)
  }

  /** sessions of the principal open on this process (for tests) */
  local (principal: Principal): number { return this.#open.get(principalKeyOf(principal)) ?? 0 }

  #count (principal: Principal): number | Promise<number> {
    const r = this.#registry
    if (r === undefined) return this.#open.get(principalKeyOf(principal)) ?? 0
    const ref = refOf(principal)
    if (typeof r.count === 'function') return asNativePromise(r.count(ref))
    const same = (list: readonly { principal: Principal | null }[]): number =>
      list.filter((s) => s.principal?.issuer === principal.issuer).length
    const listed = asNativePromise(r.list({ subject: ref.subject }))
    return listed instanceof Promise ? listed.then(same) : same(listed)
  }

  /** Sessions opened here since the check's count was asked; ends the check. */
  #settle (check: CapCheck): number {
    if (check.mark < 0) return 0
    const ask = this.#asks.get(check.key) as { pending: number, openings: number }
    if (--ask.pending === 0) this.#asks.delete(check.key)
    return ask.openings - check.mark
  }

  #heldCount (key: string, now: number): number {
    const held = this.#held.get(key)
    if (held === undefined) return 0
    for (const [token, at] of held) if (at + HOLD_MS <= now) held.delete(token)
    if (held.size === 0) this.#held.delete(key)
    return held.size
  }
}
