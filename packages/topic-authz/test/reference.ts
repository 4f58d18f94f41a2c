// The naive reference the trie is checked against: one pattern, one topic, segment by segment.
export function referenceMatches (pattern: string, topic: string): boolean {
  const p = pattern.split('.')
  const s = topic.split('.')
  for (let i = 0; i < p.length; i++) {
    const part = p[i] as string
    if (part === '>') return s.length > i
    if (i >= s.length) return false
    if (part === '*' || (part.startsWith('{') && part.endsWith('}'))) continue
    if (part !== s[i]) return false
  }
  return p.length === s.length
}
