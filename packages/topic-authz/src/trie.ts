import type { CompiledRule } from './rules.js'

class TrieNode {
  literal: Map<string, TrieNode> | undefined
  /** `*` and `{name}`: any one segment */
  one: TrieNode | undefined
  /** rules whose pattern ends here */
  end: CompiledRule[] | undefined
  /** rules whose pattern ends here with `>` (one or more further segments) */
  rest: CompiledRule[] | undefined
}

/**
 * Rules of one action compiled into a segment trie. Matching walks the topic's segments,
 * following the literal edge and the one-segment wildcard edge at each level, so its
 * cost depends on the topic's length and on how many patterns overlap, not on how many
 * rules there are.
 */
export class SegmentTrie {
  readonly #root = new TrieNode()
  #size = 0

  get size (): number { return this.#size }

  insert (rule: CompiledRule): void {
    let node = this.#root
    for (const part of rule.parts) {
      if (part.type === 'rest') {
        (node.rest ??= []).push(rule)
        this.#size++
        return
      }
      if (part.type === 'one') {
        node = node.one ??= new TrieNode()
      } else {
        const map = node.literal ??= new Map()
        let next = map.get(part.value)
        if (next === undefined) map.set(part.value, next = new TrieNode())
        node = next
      }
    }
    (node.end ??= []).push(rule)
    this.#size++
  }

  /** Pushes every rule whose pattern matches `segments` onto `out` (in no particular order). */
  collect (segments: readonly string[], out: CompiledRule[]): void {
    collect(this.#root, segments, 0, out)
  }
}

function collect (node: TrieNode, segments: readonly string[], i: number, out: CompiledRule[]): void {
  if (i === segments.length) {
    if (node.end !== undefined) pushAll(out, node.end)
    return
  }
  if (node.rest !== undefined) pushAll(out, node.rest)
  const next = node.literal?.get(segments[i] as string)
  if (next !== undefined) collect(next, segments, i + 1, out)
  if (node.one !== undefined) collect(node.one, segments, i + 1, out)
}

function pushAll (out: CompiledRule[], rules: readonly CompiledRule[]): void {
  for (let k = 0; k < rules.length; k++) out.push(rules[k] as CompiledRule)
}
