import { invalidOption, type Principal } from '@wsguard/core'
import { parsePattern, type PatternPart } from './pattern.js'
import { compilePath, type PrincipalGetter } from './paths.js'

/** A `where` predicate: must be a pure function of the principal and the captured segments. */
export type TopicPredicate = (principal: Principal, captures: Readonly<Record<string, string>>) => boolean

/** One topic rule, as written in `opts.policies` or a route's `config.topics`. */
export interface TopicRule {
  /** dot-separated pattern: literal segments, `*`, `{name}`, and `>` last */
  pattern: string
  /** the actions this rule grants, from the plugin's `actions` */
  actions: readonly string[]
  /** every one of these scopes is required (else `missing-scope`) */
  scopes?: readonly string[]
  /**
   * `{ capture: 'principal.path' }` binds each named capture to a principal value
   * (`id`, `issuer`, `claims.tenant`, …; else `claim-mismatch`), or a predicate
   * (a false result, or a throw, is `predicate`)
   */
  where?: Readonly<Record<string, string>> | TopicPredicate
  /** the sign-in (`auth_time`) must be at most this old, ms (else `stale-auth`) */
  maxAuthAgeMs?: number
  /** the token's `acr` must be one of these (else `stale-auth`) */
  acr?: readonly string[]
}

/** What a principal must bring to pass a rule it was denied with `stale-auth`. */
export interface StepUp {
  /** sign in again: `auth_time` no older than this, ms */
  readonly maxAuthAgeMs?: number
  /** an assurance level from this list */
  readonly acr?: readonly string[]
}

export interface CompiledRule {
  /** declaration order: app-wide rules first, then the route's */
  readonly index: number
  readonly pattern: string
  readonly actions: readonly string[]
  readonly parts: readonly PatternPart[]
  /** [segment index, capture name] */
  readonly captures: ReadonlyArray<readonly [number, string]>
  readonly scopes: readonly string[]
  /** [segment index, getter]: the segment must match the principal's value */
  readonly bindings: ReadonlyArray<readonly [number, PrincipalGetter]>
  readonly predicate: TopicPredicate | undefined
  readonly maxAuthAgeMs: number | undefined
  readonly acr: ReadonlySet<string> | undefined
  readonly stepUp: StepUp | undefined
}

const RULE_KEYS = new Set(['pattern', 'actions', 'scopes', 'where', 'maxAuthAgeMs', 'acr'])
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

export interface CompileContext {
  readonly actions: ReadonlySet<string>
  readonly maxSegments: number
}

function stringList (value: unknown, path: string, what: string, test: (s: string) => boolean): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((s) => typeof s === 'string' && test(s))) {
    throw invalidOption(`${path} must be a non-empty array of ${what}`)
  }
  return [...new Set(value as string[])]
}

/** Validates and compiles one rule; `path` names it in errors (`opts.policies[2]`). */
export function compileRule (rule: unknown, index: number, path: string, ctx: CompileContext): CompiledRule {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) throw invalidOption(`${path} must be an object`)
  for (const key of Object.keys(rule)) {
    if (!RULE_KEYS.has(key)) throw invalidOption(`${path}.${key} is not a rule option`)
  }
  const r = rule as Record<string, unknown>
  const parts = parsePattern(r.pattern, ctx.maxSegments)
  if (typeof parts === 'string') throw invalidOption(`${path}.pattern ${parts}`)
  const pattern = r.pattern as string
  const actions = stringList(r.actions, `${path}.actions`, 'actions', () => true)
  for (const a of actions) {
    if (!ctx.actions.has(a)) throw invalidOption(`${path}.actions has unknown action '${a}' (known: ${[...ctx.actions].join(', ')})`)
  }
  const captures: Array<readonly [number, string]> = []
  parts.forEach((p, i) => { if (p.type === 'one' && p.capture !== undefined) captures.push([i, p.capture]) })
  const scopes = r.scopes === undefined ? [] : stringList(r.scopes, `${path}.scopes`, 'scope tokens', (s) => SCOPE_TOKEN.test(s))

  const bindings: Array<readonly [number, PrincipalGetter]> = []
  let predicate: TopicPredicate | undefined
  if (typeof r.where === 'function') {
    predicate = r.where as TopicPredicate
  } else if (r.where !== undefined) {
    if (typeof r.where !== 'object' || r.where === null || Array.isArray(r.where) || Object.keys(r.where).length === 0) {
      throw invalidOption(`${path}.where must be a non-empty object of capture: principal path, or a function`)
    }
    for (const [name, target] of Object.entries(r.where)) {
      const at = captures.find(([, n]) => n === name)
      if (at === undefined) throw invalidOption(`${path}.where.${name} names no capture of pattern '${pattern}'`)
      const getter = compilePath(target)
      if (getter === undefined) {
        throw invalidOption(`${path}.where.${name} must be a principal path: id, kind, method, issuer, sessionId, tokenId or claims.<name>`)
      }
      bindings.push([at[0], getter])
    }
  }

  let maxAuthAgeMs: number | undefined
  if (r.maxAuthAgeMs !== undefined) {
    if (!Number.isSafeInteger(r.maxAuthAgeMs) || (r.maxAuthAgeMs as number) < 0) {
      throw invalidOption(`${path}.maxAuthAgeMs must be a non-negative integer (ms)`)
    }
    maxAuthAgeMs = r.maxAuthAgeMs as number
  }
  const acrList = r.acr === undefined ? undefined : stringList(r.acr, `${path}.acr`, 'non-empty strings', (s) => s.length > 0)
  const stepUp = maxAuthAgeMs === undefined && acrList === undefined
    ? undefined
    : Object.freeze({
      ...(maxAuthAgeMs !== undefined ? { maxAuthAgeMs } : {}),
      ...(acrList !== undefined ? { acr: Object.freeze(acrList) } : {})
    })

  return Object.freeze({
    index,
    pattern,
    parts,
    captures,
    scopes,
    bindings,
    predicate,
    maxAuthAgeMs,
    acr: acrList === undefined ? undefined : new Set(acrList),
    stepUp,
    actions
  })
}

/** Validates and compiles a list of rules (`opts.policies`, `config.topics`). */
export function compileRules (rules: unknown, firstIndex: number, path: string, ctx: CompileContext): CompiledRule[] {
  if (!Array.isArray(rules)) throw invalidOption(`${path} must be an array of topic rules`)
  return rules.map((r, i) => compileRule(r, firstIndex + i, `${path}[${i}]`, ctx))
}
