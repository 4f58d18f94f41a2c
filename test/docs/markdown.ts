// Reading the Markdown docs: fenced code blocks, and the tables under a heading.

export interface CodeBlock {
  /** the fence's info string, e.g. `ts` or `ts no-check <reason>` */
  info: string
  /** the block's text, without the fences */
  code: string
  /** 1-based line of the block's first line of code */
  line: number
}

/** The fenced code blocks (``` at the start of a line), in order. */
export function codeBlocks (markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = []
  const lines = markdown.split('\n')
  let open: { info: string, start: number } | undefined
  for (const [index, line] of lines.entries()) {
    if (!line.startsWith('```')) continue
    if (open === undefined) {
      open = { info: line.slice(3).trim(), start: index + 1 }
    } else {
      blocks.push({ info: open.info, code: lines.slice(open.start, index).join('\n'), line: open.start + 1 })
      open = undefined
    }
  }
  if (open !== undefined) throw new Error(`the code fence at line ${open.start} is never closed`)
  return blocks
}

/** Whether a block is TypeScript: its info string starts with ts or typescript. */
export function isTypeScript (block: CodeBlock): boolean {
  return /^(ts|typescript)(\s|$)/.test(block.info)
}

/** Why a TypeScript block is not compiled (`ts no-check <reason>`), or undefined. */
export function noCheckReason (block: CodeBlock): string | undefined {
  return /^(?:ts|typescript)\s+no-check\b\s*(.*)$/.exec(block.info)?.[1]
}

/**
 * The body rows (cells trimmed, backticks kept) of the `index`-th table between the heading
 * whose text is `heading` and the next heading.
 */
export function table (markdown: string, heading: string, index = 0): string[][] {
  const lines = markdown.split('\n')
  const at = lines.findIndex((line) => /^#+ /.test(line) && line.replace(/^#+ /, '') === heading)
  if (at === -1) throw new Error(`no heading "${heading}"`)
  const end = lines.findIndex((line, i) => i > at && /^#+ /.test(line))
  const section = lines.slice(at + 1, end === -1 ? lines.length : end)
  const tables: string[][][] = []
  section.forEach((line, i) => {
    if (!line.startsWith('|')) return
    if (i === 0 || !section[i - 1].startsWith('|')) tables.push([])
    tables[tables.length - 1].push(line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()))
  })
  const found = tables[index]
  if (found === undefined) throw new Error(`no table ${index} under "${heading}"`)
  return found.slice(2)
}

/** The code spans (text between single backticks) of each line outside fenced blocks, in order. */
export function codeSpans (text: string): string[] {
  let fenced = false
  return text.split('\n').flatMap((line) => {
    if (line.startsWith('```')) fenced = !fenced
    return fenced || line.startsWith('```') ? [] : [...line.matchAll(/`([^`]+)`/g)].map((match) => match[1])
  })
}

/** `a:{b,c}` → `a:b`, `a:c`: the shorthand the docs use for channel names. */
export function expandBraces (text: string): string[] {
  const match = /^(.*)\{([^}]*)\}(.*)$/.exec(text)
  return match === null ? [text] : match[2].split(',').flatMap((part) => expandBraces(`${match[1]}${part}${match[3]}`))
}
