import { invalidOption, isClock, systemClock, type Clock } from '@wsguard/core'
import { DEFAULT_DECISION_CACHE_SIZE } from './cache.js'
import type { TopicRule } from './rules.js'
import { DEFAULT_MAX_SEGMENTS, DEFAULT_MAX_TOPIC_LENGTH } from './topic.js'

export const DEFAULT_ACTIONS: readonly string[] = Object.freeze(['subscribe', 'publish'])
export const DEFAULT_MODE = 'enforce'

export type TopicAuthzMode = 'enforce' | 'shadow'

export interface TopicAuthzOptions {
  /** app-wide rules, checked on every route before the route's own `config.topics`. Default `[]` */
  policies?: readonly TopicRule[]
  /** the actions rules may grant; anything else is a registration error. Default `['subscribe', 'publish']` */
  actions?: readonly string[]
  /** `'shadow'` evaluates and publishes every decision but allows everything. Default `'enforce'` */
  mode?: TopicAuthzMode
  /** decisions remembered per connection, per principal; 0 turns the cache off. Default 256 */
  decisionCacheSize?: number
  /** a longer topic is `invalid-topic`, in characters. Default 256 */
  maxTopicLength?: number
  /** a topic or pattern with more segments is invalid. Default 16 */
  maxSegments?: number
  /** source of time for `maxAuthAgeMs`. Default the system clock */
  clock?: Clock
}

export interface TopicAuthzConfig {
  readonly policies: unknown
  readonly actions: ReadonlySet<string>
  readonly mode: TopicAuthzMode
  readonly decisionCacheSize: number
  readonly maxTopicLength: number
  readonly maxSegments: number
  readonly clock: Clock
}

const OPTION_KEYS = new Set(['policies', 'actions', 'mode', 'decisionCacheSize', 'maxTopicLength', 'maxSegments', 'clock'])
const ACTION = /^[A-Za-z][A-Za-z0-9_.:-]*$/

function count (value: unknown, path: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || (value as number) < min) throw invalidOption(`${path} must be an integer ≥ ${min}`)
  return value as number
}

/** Checks the plugin's options once, at registration; every message names the option. */
export function validateOptions (opts: unknown): TopicAuthzConfig {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw invalidOption('opts must be an object')
  for (const key of Object.keys(opts)) {
    if (!OPTION_KEYS.has(key)) throw invalidOption(`opts.${key} is not an option of @wsguard/topic-authz`)
  }
  const o = opts as Record<string, unknown>
  let actions = DEFAULT_ACTIONS
  if (o.actions !== undefined) {
    if (!Array.isArray(o.actions) || o.actions.length === 0 || !o.actions.every((a) => typeof a === 'string' && ACTION.test(a))) {
      throw invalidOption('opts.actions must be a non-empty array of action names (a letter, then letters, digits, _ . : -)')
    }
    actions = o.actions as string[]
  }
  if (o.mode !== undefined && o.mode !== 'enforce' && o.mode !== 'shadow') throw invalidOption("opts.mode must be 'enforce' or 'shadow'")
  if (o.clock !== undefined && !isClock(o.clock)) throw invalidOption('opts.clock must have a now() method')
  return Object.freeze({
    policies: o.policies ?? [],
    actions: new Set(actions),
    mode: (o.mode ?? DEFAULT_MODE) as TopicAuthzMode,
    decisionCacheSize: count(o.decisionCacheSize, 'opts.decisionCacheSize', DEFAULT_DECISION_CACHE_SIZE, 0),
    maxTopicLength: count(o.maxTopicLength, 'opts.maxTopicLength', DEFAULT_MAX_TOPIC_LENGTH, 1),
    maxSegments: count(o.maxSegments, 'opts.maxSegments', DEFAULT_MAX_SEGMENTS, 1),
    clock: (o.clock ?? systemClock) as Clock
  })
}
