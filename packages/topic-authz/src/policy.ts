import type { Principal, TopicDenyReason } from '@wsguard/core'
import type { CompiledRule, StepUp } from './rules.js'
import { SegmentTrie } from './trie.js'
import { valueMatches } from './paths.js'

/** The answer to "may this principal do this action on this topic?". Frozen. */
export interface TopicDecision {
  /** whether to let it happen (always true in shadow mode) */
  readonly allow: boolean
  /** the pattern of the rule that allowed; on a denial, of the rule that came closest */
  readonly rule?: string
  /** the segments the allowing rule captured with `{name}` */
  readonly captures?: Readonly<Record<string, string>>
  /** why the policy denied (in shadow mode: why it would have) */
  readonly reason?: TopicDenyReason
  /** on `stale-auth`: what a fresh sign-in must bring (refresh in-band, then retry) */
  readonly stepUp?: StepUp
  /** present in shadow mode: the policy was evaluated, not enforced */
  readonly shadow?: true
}

/** A decision and the time (ms since epoch) until which it holds for the same principal. */
export interface Evaluation {
  readonly decision: TopicDecision
  readonly until: number
}

/** The rules of one source (app-wide, or one route's), one trie per action. */
export class RuleSet {
  readonly #tries = new Map<string, SegmentTrie>()
  readonly size: number

  constructor (rules: readonly CompiledRule[]) {
    for (const rule of rules) {
      for (const action of rule.actions) {
        let trie = this.#tries.get(action)
        if (trie === undefined) this.#tries.set(action, trie = new SegmentTrie())
        trie.insert(rule)
      }
    }
    this.size = rules.length
  }

  collect (action: string, segments: readonly string[], out: CompiledRule[]): void {
    this.#tries.get(action)?.collect(segments, out)
  }
}

export const INVALID_TOPIC: TopicDecision = Object.freeze({ allow: false, reason: 'invalid-topic' })
export const UNKNOWN_ACTION: TopicDecision = Object.freeze({ allow: false, reason: 'unknown-action' })
const NO_RULE: TopicDecision = Object.freeze({ allow: false, reason: 'no-rule' })
const FOREVER = Number.POSITIVE_INFINITY

// Outcomes of checking one rule, and how close each came to allowing.
const PASS = 0
const REASONS: readonly TopicDenyReason[] = ['no-rule', 'missing-scope', 'claim-mismatch', 'predicate', 'stale-auth']
const RANK = [0, 1, 2, 2, 3]

export type PredicateErrorHandler = (err: unknown, rule: CompiledRule) => void

function capturesOf (rule: CompiledRule, segments: readonly string[]): Record<string, string> {
  const captures: Record<string, string> = {}
  // Indexed loops on the decision path: no iterator objects per decision.
  for (let k = 0; k < rule.captures.length; k++) {
    const capture = rule.captures[k] as CompiledRule['captures'][number]
    captures[capture[1]] = segments[capture[0]] as string
  }
  return captures
}

function authTimeMs (principal: Principal): number | undefined {
  const t = principal.claims.auth_time
  return typeof t === 'number' && Number.isFinite(t) ? t * 1000 : undefined
}

function check (rule: CompiledRule, principal: Principal | null, segments: readonly string[], now: () => number, onError: PredicateErrorHandler): number {
  if (rule.scopes.length > 0) {
    if (principal === null) return 1
    for (let k = 0; k < rule.scopes.length; k++) if (!principal.scopes.includes(rule.scopes[k] as string)) return 1
  }
  if (rule.bindings.length > 0) {
    if (principal === null) return 2
    for (let k = 0; k < rule.bindings.length; k++) {
      const binding = rule.bindings[k] as CompiledRule['bindings'][number]
      if (!valueMatches(binding[1](principal), segments[binding[0]] as string)) return 2
    }
  }
  if (rule.predicate !== undefined) {
    if (principal === null) return 3
    let ok: unknown
    try {
      ok = rule.predicate(principal, Object.freeze(capturesOf(rule, segments)))
    } catch (err) {
      onError(err, rule)
      return 3
    }
    if (ok !== true) return 3
  }
  if (rule.maxAuthAgeMs !== undefined) {
    const at = principal === null ? undefined : authTimeMs(principal)
    if (at === undefined || now() - at > rule.maxAuthAgeMs) return 4
  }
  if (rule.acr !== undefined) {
    const acr = principal?.claims.acr
    if (typeof acr !== 'string' || !rule.acr.has(acr)) return 4
  }
  return PASS
}

const byIndex = (a: CompiledRule, b: CompiledRule): number => a.index - b.index

/**
 * Evaluates the rules matching a well-formed topic, in declaration order: the first rule
 * that passes allows; when none does, the denial names the rule that came closest
 * (stale-auth, then claim-mismatch/predicate, then missing-scope) and its reason.
 */
export function evaluate (sets: readonly RuleSet[], principal: Principal | null, action: string, segments: readonly string[], now: () => number, onError: PredicateErrorHandler): Evaluation {
  const candidates: CompiledRule[] = []
  for (let k = 0; k < sets.length; k++) (sets[k] as RuleSet).collect(action, segments, candidates)
  if (candidates.length === 0) return { decision: NO_RULE, until: FOREVER }
  if (candidates.length > 1) candidates.sort(byIndex)
  let closest: CompiledRule | undefined
  let closestOutcome = 0
  for (let k = 0; k < candidates.length; k++) {
    const rule = candidates[k] as CompiledRule
    const outcome = check(rule, principal, segments, now, onError)
    if (outcome === PASS) {
      const decision: TopicDecision = rule.captures.length === 0
        ? Object.freeze({ allow: true, rule: rule.pattern })
        : Object.freeze({ allow: true, rule: rule.pattern, captures: Object.freeze(capturesOf(rule, segments)) })
      const until = rule.maxAuthAgeMs === undefined ? FOREVER : (authTimeMs(principal as Principal) as number) + rule.maxAuthAgeMs
      return { decision, until }
    }
    if (RANK[outcome] as number > (RANK[closestOutcome] as number)) {
      closest = rule
      closestOutcome = outcome
    }
  }
  const c = closest as CompiledRule
  const reason = REASONS[closestOutcome] as TopicDenyReason
  const decision: TopicDecision = reason === 'stale-auth' && c.stepUp !== undefined
    ? Object.freeze({ allow: false, rule: c.pattern, reason, stepUp: c.stepUp })
    : Object.freeze({ allow: false, rule: c.pattern, reason })
  return { decision, until: FOREVER }
}
