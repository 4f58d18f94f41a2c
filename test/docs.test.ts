// The docs say what the code does: close codes, metric names and channel names in the
// Markdown are read from the code's own tables (docs/errors.md is generated; see core's tests).
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { ChannelName, CloseCode } from '@wsguard/core'
import { telemetry } from '@wsguard/telemetry'
import { Registry } from 'prom-client'
import { DOCS, readDoc } from './docs/files.js'
import { codeBlocks, codeSpans, expandBraces, isTypeScript, noCheckReason, table } from './docs/markdown.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const closeCodes = Object.values(CloseCode).sort()
const architecture = readDoc('docs/ARCHITECTURE.md')

/** The Markdown files of the repository, changelogs and dependencies aside. */
function markdownFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return /^(node_modules|dist|coverage|\.git|\.tap|\.changeset)$/.test(entry.name) ? [] : markdownFiles(join(dir, entry.name))
    return entry.name.endsWith('.md') && entry.name !== 'CHANGELOG.md' ? [relative(ROOT, join(dir, entry.name))] : []
  })
}

t.test('every Markdown file of the repository is checked', async (t) => {
  t.same(markdownFiles(ROOT).sort(), [...DOCS].sort())
})

t.test('close codes', async (t) => {
  t.test('docs/ARCHITECTURE.md\'s table is core\'s CloseCode', async (t) => {
    const rows = table(architecture, 'Close codes after upgrade')
    t.same(rows.map((row) => Number(row[0])).sort(), closeCodes)
  })

  t.test('core\'s README names every CloseCode with its value', async (t) => {
    const item = readDoc('packages/core/README.md').split('\n- ').find((text) => text.startsWith('`CloseCode`:')) ?? ''
    const listed = Object.fromEntries([...item.matchAll(/`([A-Z_]+)` (\d{4})/g)].map((m) => [m[1], Number(m[2])]))
    t.same(listed, { ...CloseCode })
  })

  t.test('telemetry\'s README keeps exactly wsguard\'s codes as labels', async (t) => {
    const row = table(readDoc('packages/telemetry/README.md'), 'Metrics').find((cells) => cells[0] === '`code` (session duration)') ?? []
    const kept = [...String(row[1]).matchAll(/\b44\d\d\b/g)].map((m) => Number(m[0]))
    t.same(kept.sort(), closeCodes.filter((code) => code >= 4000))
  })

  t.test('every close code 4400-4499 a doc mentions is one of core\'s', async (t) => {
    // bench/README.md holds measurements, where such numbers are counts, not codes
    for (const doc of DOCS.filter((d) => d !== 'bench/README.md')) {
      const unknown = [...readDoc(doc).matchAll(/\b44\d\d\b/g)].map((m) => Number(m[0])).filter((code) => !closeCodes.includes(code as CloseCode))
      t.same(unknown, [], doc)
    }
  })
})

t.test('metrics', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  const registry = new Registry()
  await app.register(telemetry, { audit: false, metrics: { registry } })
  await app.ready()
  const registered = (await registry.getMetricsAsJSON()).map(({ name, type }) => {
    // prom-client keeps a metric's label names on the instance; its types leave them out
    const { labelNames } = registry.getSingleMetric(name) as unknown as { labelNames: readonly string[] }
    t.ok(Array.isArray(labelNames), `prom-client keeps the label names of ${name}`)
    return { name, type: String(type), labels: [...labelNames].sort() }
  })
  const names = registered.map((metric) => metric.name)

  t.test('telemetry\'s README table is what the plugin registers', async (t) => {
    const documented = table(readDoc('packages/telemetry/README.md'), 'Metrics', 1).map(([name, type, labels]) => ({
      name: codeSpans(name)[0],
      type,
      labels: codeSpans(labels.replace(/\([^)]*\)/g, '')).sort()
    }))
    t.same(documented.sort((a, b) => a.name.localeCompare(b.name)), registered.sort((a, b) => a.name.localeCompare(b.name)))
  })

  t.test('every metric name a doc mentions is registered', async (t) => {
    for (const doc of DOCS) {
      const mentioned = [...readDoc(doc).matchAll(/\bwsguard_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))
      t.same(mentioned.filter((name) => !names.includes(name)), [], doc)
    }
  })
})

t.test('channel names', async (t) => {
  const channels = Object.values(ChannelName).sort()

  t.test('docs/ARCHITECTURE.md lists core\'s ChannelName', async (t) => {
    const item = architecture.split('\n- ').find((text) => text.startsWith('Channel names:')) ?? ''
    t.same(codeSpans(item).filter((span) => span.startsWith('wsguard:')).flatMap(expandBraces).sort(), channels)
  })

  t.test('every channel a doc names is one of core\'s', async (t) => {
    for (const doc of DOCS) {
      const named = codeSpans(readDoc(doc)).filter((span) => /^wsguard:[a-z_:{},]+$/.test(span)).flatMap(expandBraces)
      t.same(named.filter((name) => !channels.includes(name as ChannelName)), [], doc)
    }
  })
})

t.test('the Markdown readers', async (t) => {
  const doc = '# A\n\n```ts\nlet a = 1\n```\n\n```ts no-check a sketch\n{ … }\n```\n\n## B\n\n| x | y |\n|---|---|\n| `1` | 2 \\| 3 |\n\n| z |\n|---|\n| 4 |\n'
  const blocks = codeBlocks(doc)
  t.same(blocks.map((b) => [b.info, b.code, b.line]), [['ts', 'let a = 1', 4], ['ts no-check a sketch', '{ … }', 8]])
  t.same(blocks.map(isTypeScript), [true, true])
  t.same(blocks.map(noCheckReason), [undefined, 'a sketch'])
  t.notOk(isTypeScript({ info: 'tsx', code: '', line: 1 }))
  t.same(table(doc, 'B'), [['`1`', '2 \\| 3']])
  t.same(table(doc, 'B', 1), [['4']])
  t.same(table('## C\n| c |\n|---|\n| 5 |', 'C'), [['5']])
  t.throws(() => table(doc, 'C'), { message: 'no heading "C"' })
  t.throws(() => table(doc, 'A'), { message: 'no table 0 under "A"' })
  t.throws(() => codeBlocks('```ts\nopen'), { message: 'the code fence at line 1 is never closed' })
  t.same(codeSpans('`a` and `b`\n```ts\nconst c = `c`\n```\n`d`'), ['a', 'b', 'd'])
  t.same(expandBraces('x:{a,b}:{c,d}'), ['x:a:c', 'x:b:c', 'x:a:d', 'x:b:d'])
  t.same(expandBraces('plain'), ['plain'])
})
