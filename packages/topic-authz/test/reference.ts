// The naive reference the trie is checked against: one pattern, one topic, segment by segment.
export function referenceMatches (pattern: string, topic: string): boolean {
  return referenceCaptures(pattern, topic) !== undefined
}

/** The captures of `pattern` on `topic` (`{}` when it captures nothing), or `undefined` when it does not match. */
export function referenceCaptures (pattern: string, topic: string): Record<string, string> | undefined {
  const p = pattern.split('.')
  const s = topic.split('.')
  const captures: Record<string, string> = {}
  for (let i = 0; i < p.length; i++) {
    const part = p[i] as string
    if (part === '>') return s.length > i ? captures : undefined
    if (i >= s.length) return undefined
    if (part.startsWith('{') && part.endsWith('}')) captures[part.slice(1, -1)] = s[i] as string
    else if (part !== '*' && part !== s[i]) return undefined
  }
  return p.length === s.length ? captures : undefined
}

/** A rule as the reference sees it: a pattern and the actions it grants. */
export interface ReferenceRule { pattern: string, actions: readonly string[] }

const TOPIC = /^[A-Za-z0-9_\-:@~+=]+(\.[A-Za-z0-9_\-:@~+=]+)*$/

/**
 * What topic-authz should decide for a principal that rules asking nothing allow: the first
 * declared rule that grants the action and matches allows, with its captures.
 */
export function referenceDecide (rules: readonly ReferenceRule[], known: ReadonlySet<string>, action: unknown, topic: unknown, limits: { maxTopicLength: number, maxSegments: number }): Record<string, unknown> {
  if (typeof action !== 'string' || !known.has(action)) return { allow: false, reason: 'unknown-action' }
  if (typeof topic !== 'string' || topic.length > limits.maxTopicLength || !TOPIC.test(topic) ||
    topic.split('.').length > limits.maxSegments) return { allow: false, reason: 'invalid-topic' }
  for (const rule of rules) {
    if (!rule.actions.includes(action)) continue
    const captures = referenceCaptures(rule.pattern, topic)
    if (captures === undefined) continue
    return Object.keys(captures).length === 0 ? { allow: true, rule: rule.pattern } : { allow: true, rule: rule.pattern, captures }
  }
  return { allow: false, reason: 'no-rule' }
}
