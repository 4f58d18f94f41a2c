// scripts/tap-retry.mjs runs a package's suite once more only when its files that failed hung
// with their main thread blocked (killed at the timeout, tap's signal unanswered: Node 20's
// loader deadlock) and printed no failed test.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { hungWithoutFailure } from '../scripts/tap-retry.mjs'

const passed = (n: number, name: string): string =>
  `# Subtest: ${name}\n    # Subtest: a test\n        ok 1 - x\n        1..1\n    ok 1 - a test # time=2ms\n    \n    1..1\nok ${n} - ${name} # time=300ms\n`

// As CI printed it (session 28's last run, and session 29's).
const hung = (n: number, name: string): string =>
  `# Subtest: ${name}\n    1..0 # no tests found\nnot ok ${n} - ${name} # time=122489.528ms\n  ---\n  stdio: inherit\n  cwd: /check/work/main/test\n  externalID: ${name}\n  command: /usr/bin/node\n  args:\n    - --import=tsx\n    - /check/work/main/test/${name}\n  exitCode: null\n  signal: SIGKILL\n  ...\n\n`

const timeout = (n: number, name: string): string => `not ok ${n} - timeout!\n  ---\n  expired: ${name}\n  ...\n\n`

t.test('a run whose only failures are files that hung with no failed test: those files', async (t) => {
  const output = passed(1, 'a.test.ts') + hung(2, 'security/truncated-head.test.ts') + passed(3, 'c.test.ts') + timeout(4, 'security/truncated-head.test.ts') + '# { total: 3, pass: 2, fail: 2 }\n'
  t.same(hungWithoutFailure(output), ['security/truncated-head.test.ts'])
  t.same(hungWithoutFailure(hung(1, 'a.test.ts') + hung(2, 'b.test.ts')), ['a.test.ts', 'b.test.ts'])
})

t.test('a file that hung after its tests began, none failed (CI: examples/demo cli.test.ts, between two tests)', async (t) => {
  const midway = '# Subtest: test/cli.test.ts\n    # Subtest: parseCli\n        ok 1 - should be equivalent\n        1..1\n    ok 1 - parseCli # time=11.502ms\n    \n    # test count(1) != plan(null)\nnot ok 3 - test/cli.test.ts # time=122675.354ms\n  ---\n  stdio: inherit\n  exitCode: null\n  signal: SIGKILL\n  ...\n\n'
  t.same(hungWithoutFailure(passed(2, 'test/api.test.ts') + midway + timeout(9, 'test/cli.test.ts')), ['test/cli.test.ts'])
})

t.test('anything else failed: no retry', async (t) => {
  const failedTest = '# Subtest: a.test.ts\n    # Subtest: x\n        not ok 1 - should be equal\n        1..1\n    not ok 1 - x\n    1..1\nnot ok 1 - a.test.ts # time=30ms\n  ---\n  exitCode: 1\n  ...\n'
  t.equal(hungWithoutFailure(failedTest), undefined, 'a test that failed')
  t.equal(hungWithoutFailure(hung(1, 'b.test.ts') + failedTest.replace('not ok 1 - a.test.ts', 'not ok 2 - a.test.ts')), undefined, 'a hang and a failed test')
  const hungAfterFailure = '# Subtest: a.test.ts\n    # Subtest: x\n        not ok 1 - should be equal\nnot ok 1 - a.test.ts # time=120000ms\n  ---\n  exitCode: null\n  signal: SIGKILL\n  ...\n'
  t.equal(hungWithoutFailure(hungAfterFailure), undefined, 'a file that hung after a test failed')
  const answered = '# Subtest: a.test.ts\n    # Subtest: x\n        not ok 1 - timeout!\n          ---\n          signal: null\n          expired: TAP\n          ...\nnot ok 1 - a.test.ts # time=120000ms\n  ---\n  exitCode: 1\n  ...\n'
  t.equal(hungWithoutFailure(answered), undefined, 'a test that waited on an event: tap\'s signal answered inside the file')
  t.equal(hungWithoutFailure('not ok 1 - a.test.ts # time=120000ms\n  ---\n  exitCode: null\n  signal: SIGKILL\n  ...\n'), undefined, 'no block of its own to read')
  const exited = hung(1, 'a.test.ts').replace('  exitCode: null\n  signal: SIGKILL\n', '  exitCode: 1\n  signal: null\n')
  t.equal(hungWithoutFailure(exited), undefined, 'a file that printed nothing and exited 1 (an import that threw)')
  t.equal(hungWithoutFailure(hung(1, 'a.test.ts').replace(/ {2}\.\.\.\n/, '')), undefined, 'no end to its details')
  t.equal(hungWithoutFailure(passed(1, 'a.test.ts')), undefined, 'nothing failed')
  t.equal(hungWithoutFailure(timeout(1, 'a.test.ts')), undefined, 'only tap\'s timeout line')
})

/**
 * Runs scripts/tap-retry.mjs with a stand-in `tap` first on PATH, which prints `outputs[k]`
 * on its k-th run and exits with `codes[k]`. Resolves with the exit code, what was printed and
 * the arguments of each run.
 */
async function retry (t: Test, outputs: string[], codes: number[]): Promise<{ code: number, stdout: string, runs: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'wsguard-tap-retry-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'outputs.json'), JSON.stringify({ outputs, codes }))
  const fake = join(dir, 'tap')
  writeFileSync(fake, `#!${process.execPath}
const fs = require('node:fs'); const path = require('node:path')
const { outputs, codes } = JSON.parse(fs.readFileSync(path.join(__dirname, 'outputs.json'), 'utf8'))
const runs = path.join(__dirname, 'runs.log')
const k = fs.existsSync(runs) ? fs.readFileSync(runs, 'utf8').split('\\n').filter(Boolean).length : 0
fs.appendFileSync(runs, process.argv.slice(2).join(' ') + '\\n')
process.stdout.write(outputs[k]); process.exitCode = codes[k]
`)
  chmodSync(fake, 0o755)
  const script = fileURLToPath(new URL('../scripts/tap-retry.mjs', import.meta.url))
  return await new Promise((resolve) => {
    execFile(process.execPath, [script, '--reporter=tap', 'x.test.ts'], { env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` } }, (err, stdout) => {
      const runs = readFileSync(join(dir, 'runs.log'), 'utf8').split('\n').filter(Boolean)
      resolve({ code: (err as { code?: number } | null)?.code ?? 0, stdout, runs })
    })
  })
}

t.test('the script: such a hang runs the suite once more, with the same arguments', async (t) => {
  const r = await retry(t, [hung(1, 'x.test.ts') + timeout(2, 'x.test.ts'), passed(1, 'x.test.ts')], [1, 0])
  t.equal(r.code, 0, 'the second run\'s result')
  t.same(r.runs, ['--reporter=tap x.test.ts', '--reporter=tap x.test.ts'])
  t.match(r.stdout, /# tap-retry: x\.test\.ts hung \(killed at the timeout, tap's signal unanswered\) with no failed test; running the suite once more/)
  t.match(r.stdout, /not ok 1 - x\.test\.ts[\s\S]*ok 1 - x\.test\.ts/, 'both runs\' output is shown')
  const twice = await retry(t, [hung(1, 'x.test.ts'), hung(1, 'x.test.ts')], [1, 1])
  t.equal(twice.code, 1, 'once more only: a second hang fails')
  t.equal(twice.runs.length, 2)
})

t.test('the script: any other failure, or none, is the result of the one run', async (t) => {
  const failed = await retry(t, ['not ok 1 - x.test.ts # time=3ms\n  ---\n  exitCode: 1\n  ...\n'], [1])
  t.same([failed.code, failed.runs.length], [1, 1])
  t.notMatch(failed.stdout, /tap-retry/)
  const ok = await retry(t, [passed(1, 'x.test.ts')], [0])
  t.same([ok.code, ok.runs.length], [0, 1])
})
