// pnpm docs:check: every TypeScript block of the Markdown docs compiles against the
// workspace packages (their source, through the @wsguard/source condition), strict.
// Each block is its own module, so what it uses it must import; the only names it may use
// without declaring them are the few an app around a snippet obviously has (CONTEXT).
// A block fenced as ```ts no-check <reason> is skipped, and must say why.
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { DOCS, readDoc } from './files.js'
import { codeBlocks, isTypeScript, noCheckReason } from './markdown.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BLOCKS = join(ROOT, 'test', 'docs', 'blocks')

/**
 * What a snippet may take from the app around it: the app, with every wsguard plugin's
 * types loaded (as they are in an app that registers them), a route's handler, the socket,
 * request and message inside one, a test's `t`, the PEM material of a TLS server and the
 * app's broker calls. Anything a block calls from a package, it must import.
 */
const CONTEXT = `
import '@fastify/websocket'
import '@wsguard/auth-handshake'
import '@wsguard/topic-authz'
import '@wsguard/session-expiry'
import '@wsguard/telemetry'
declare global {
  const app: import('fastify').FastifyInstance
  const handler: import('@fastify/websocket').WebsocketHandler
  const socket: import('ws').WebSocket
  const req: import('fastify').FastifyRequest
  const msg: { topic: string }
  const t: { teardown (fn: () => unknown): void }
  const key: string, cert: string, workloadCa: string, workloadCaPem: string
  function subscribe (topic: string): void
  function unsubscribe (topic: string): void
}
`

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  skipLibCheck: true,
  noEmit: true,
  types: ['node'],
  customConditions: ['@wsguard/source']
}

interface Snippet { doc: string, line: number, file: string, text: string }

const snippets: Snippet[] = []
const skipped: string[] = []
for (const doc of DOCS) {
  for (const block of codeBlocks(readDoc(doc)).filter(isTypeScript)) {
    const reason = noCheckReason(block)
    if (reason !== undefined) {
      if (reason === '') throw new Error(`${doc}:${block.line}: a no-check block must say why`)
      skipped.push(`${doc}:${block.line} (${reason})`)
      continue
    }
    const file = join(BLOCKS, `${doc.replace(/[/.]/g, '_')}_L${block.line}.ts`)
    snippets.push({ doc, line: block.line, file, text: `${block.code}\nexport {}\n` })
  }
}

// A block that augments a module (`declare module`, `declare global`: WsguardClaims, say)
// is compiled in a program of its own, so that its augmentation cannot make another block
// compile; the other blocks share one program. Files outside the blocks are parsed once.
const contextFile = join(BLOCKS, 'context.ts')
const virtual = new Map<string, string>([[contextFile, CONTEXT], ...snippets.map((s): [string, string] => [s.file, s.text])])
const parsed = new Map<string, ts.SourceFile | undefined>()
const host = ts.createCompilerHost(options)
const { getSourceFile, fileExists, readFile } = host
host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name)
host.readFile = (name) => virtual.get(name) ?? readFile.call(host, name)
host.getSourceFile = (name, language, ...rest) => {
  const text = virtual.get(name)
  if (text !== undefined) return ts.createSourceFile(name, text, language)
  if (!parsed.has(name)) parsed.set(name, getSourceFile.call(host, name, language, ...rest))
  return parsed.get(name)
}

const bySnippet = new Map(snippets.map((s) => [s.file, s]))
const augments = (snippet: Snippet): boolean => /^\s*declare\s+(module|global)\b/m.test(snippet.text)
const groups = [snippets.filter((s) => !augments(s)), ...snippets.filter(augments).map((s) => [s])]
const errors: string[] = []
let previous: ts.Program | undefined
for (const group of groups) {
  const program: ts.Program = ts.createProgram([contextFile, ...group.map((s) => s.file)], options, host, previous)
  previous = program
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...[contextFile, ...group.map((s) => s.file)].flatMap((name) => {
      const file = program.getSourceFile(name) as ts.SourceFile
      return [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]
    })
  ]
  for (const d of diagnostics) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ')
    if (d.file === undefined || d.start === undefined) { errors.push(`TS${d.code}: ${message}`); continue }
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start)
    const snippet = bySnippet.get(d.file.fileName)
    const where = snippet === undefined ? relative(ROOT, d.file.fileName) + `:${line + 1}` : `${snippet.doc}:${snippet.line + line}`
    errors.push(`${where}:${character + 1} TS${d.code}: ${message}`)
  }
}

console.log(`# ${snippets.length} TypeScript blocks compiled from ${DOCS.length} Markdown files; ${skipped.length} marked no-check${skipped.map((s) => `\n#   ${s}`).join('')}`)
if (errors.length > 0) {
  console.error(errors.join('\n'))
  process.exit(1)
}
