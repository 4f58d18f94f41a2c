// Reads handshake-corpus.tsv: one case per line, four columns separated by tabs or spaces:
//   carriers  recipe  status  code
// `carriers` is `*` (header, subprotocol, cookie and query) or a comma-separated list of
// names from carriers.ts; `recipe` a name from tokens.ts; `status` the HTTP status; `code`
// the body's `code`, or `-` for none (a 101, or an answer from below the plugins).
import { errorCatalogue } from '@wsguard/core'

export interface CorpusCase {
  /** `<file>:<line>`, for messages */
  where: string
  carriers: readonly string[]
  recipe: string
  status: number
  code: string | undefined
}

export interface Vocabulary {
  carriers: Readonly<Record<string, unknown>>
  recipes: Readonly<Record<string, unknown>>
  /** what `*` stands for */
  all: readonly string[]
}

const STATUSES = new Set([101, 400, 401, 403, 429, 431, 503])
/** answers that carry no `code`: the upgrade, and Node's own refusal of an oversized head */
const CODELESS = new Set([101, 431])

/** Parses the corpus; a bad line throws an error that starts with `<file>:<line>:`. */
export function parseCorpus (text: string, file: string, vocabulary: Vocabulary): CorpusCase[] {
  const cases: CorpusCase[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim()
    if (line === '' || line.startsWith('#')) continue
    const where = `${file}:${i + 1}`
    const fail = (why: string): never => { throw new Error(`${where}: ${why} (in "${line}")`) }
    const columns = line.split(/\s+/)
    if (columns.length !== 4) fail(`expected 4 columns (carriers recipe status code), found ${columns.length}`)
    const [carrierText, recipe, statusText, codeText] = columns as [string, string, string, string]
    const carriers = carrierText === '*' ? vocabulary.all : carrierText.split(',')
    for (const c of carriers) if (!Object.hasOwn(vocabulary.carriers, c)) fail(`unknown carrier '${c}'`)
    if (!Object.hasOwn(vocabulary.recipes, recipe)) fail(`unknown recipe '${recipe}'`)
    const status = Number(statusText)
    if (!STATUSES.has(status)) fail(`status must be one of ${[...STATUSES].join(', ')}`)
    const code = codeText === '-' ? undefined : codeText
    if (code !== undefined && !Object.hasOwn(errorCatalogue, code)) fail(`'${code}' is not a WSG_* code of @wsguard/core`)
    if (CODELESS.has(status) !== (code === undefined)) {
      fail(CODELESS.has(status) ? `a ${status} has no code (-)` : 'a refusal names its code')
    }
    cases.push({ where, carriers, recipe, status, code })
  }
  return cases
}
