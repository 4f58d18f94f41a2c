// The browser build stays small: minified and gzipped under the budget, and the size the
// README states is the size it has.
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { build } from 'esbuild'
import { browserBundle } from './bundle.js'

/** The budget, in bytes of the minified, gzipped browser build (everything it exports). */
// 4 KB until session 30; the refusal of credentials sent in clear (ws:, http:) took 0.2 KB of it.
const BUDGET_BYTES = 4_608
const gzipped = (code: string): number => gzipSync(code, { level: 9 }).length

const whole = gzipped((await browserBundle()).code)
t.comment(`browser build, minified + gzipped: ${whole} bytes`)

t.test(`the whole browser build is at most ${BUDGET_BYTES} bytes minified + gzipped`, async (t) => {
  t.ok(whole <= BUDGET_BYTES, `${whole} bytes`)
})

t.test('the README states the size it has (to the nearest 0.1 KB) and the budget', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const stated = /\*\*([\d.]+) KB\*\* minified and gzipped/.exec(readme)
  t.ok(stated, 'the README states the size')
  t.equal(Number(stated?.[1]), Math.round(whole / 102.4) / 10, `the README says ${stated?.[1]} KB; the build is ${whole} bytes`)
  t.match(readme, `budget of ${BUDGET_BYTES / 1_024} KB`)
})

t.test('an app that imports connect() alone bundles less', async (t) => {
  const result = await build({
    stdin: { contents: "import { connect } from './src/index.ts'; connect({ url: '/feed' })", resolveDir: new URL('..', import.meta.url).pathname, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent'
  })
  const connectOnly = gzipped(result.outputFiles[0]?.text ?? '')
  t.comment(`connect() alone: ${connectOnly} bytes`)
  t.ok(connectOnly < whole, `${connectOnly} < ${whole} bytes`)
})
