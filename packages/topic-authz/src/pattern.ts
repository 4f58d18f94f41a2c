import { SEGMENT } from './topic.js'

/** One segment of a compiled pattern. */
export type PatternPart =
  | { readonly type: 'literal', readonly value: string }
  | { readonly type: 'one', readonly capture?: string }
  | { readonly type: 'rest' }

const CAPTURE = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/

/**
 * Parses a pattern: literal segments, `*` (one segment), `{name}` (one segment, captured)
 * and `>` (one or more trailing segments, last only). Returns the parts, or a message
 * saying what is wrong.
 */
export function parsePattern (pattern: unknown, maxSegments: number): PatternPart[] | string {
  if (typeof pattern !== 'string' || pattern.length === 0) return 'must be a non-empty string'
  const segments = pattern.split('.')
  if (segments.length > maxSegments) return `has more than ${maxSegments} segments (maxSegments)`
  const parts: PatternPart[] = []
  const names = new Set<string>()
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as string
    if (s === '>') {
      if (i !== segments.length - 1) return "uses '>' before its last segment"
      parts.push({ type: 'rest' })
    } else if (s === '*') {
      parts.push({ type: 'one' })
    } else if (s.startsWith('{')) {
      const name = CAPTURE.exec(s)?.[1]
      if (name === undefined) return `has a malformed capture '${s}' (expected {name})`
      if (names.has(name)) return `captures '${name}' twice`
      names.add(name)
      parts.push({ type: 'one', capture: name })
    } else if (SEGMENT.test(s)) {
      parts.push({ type: 'literal', value: s })
    } else {
      return `has an invalid segment '${s}'`
    }
  }
  return parts
}
