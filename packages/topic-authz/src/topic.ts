/** Default bounds of a topic; both can be set in the plugin's options. */
export const DEFAULT_MAX_TOPIC_LENGTH = 256
export const DEFAULT_MAX_SEGMENTS = 16

/** One topic segment: 1 or more of `A-Z a-z 0-9 _ - : @ ~ + =` (no `.`, `*`, `>`, braces, spaces). */
export const SEGMENT = /^[A-Za-z0-9_\-:@~+=]+$/

export interface TopicLimits {
  readonly maxTopicLength: number
  readonly maxSegments: number
}

/**
 * Splits a topic into its segments, or returns `undefined` when it is not well formed:
 * not a string, too long, too many segments, an empty segment or a character outside
 * the segment set. Never throws.
 */
export function parseTopic (topic: unknown, limits: TopicLimits): string[] | undefined {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > limits.maxTopicLength) return undefined
  const segments = topic.split('.')
  if (segments.length > limits.maxSegments) return undefined
  for (let i = 0; i < segments.length; i++) {
    if (!SEGMENT.test(segments[i] as string)) return undefined
  }
  return segments
}
