// Runs tap with this process's arguments. When tap fails only because test files hung before
// printing anything and were killed at their timeout, it runs the suite once more and says so;
// any other failure stands. Node 20 can deadlock registering module loaders at a process's
// start (nodejs/node#50948; every test process registers tap's and tsx's): such a file ran no
// test at all, so running the suite again hides no test's result. See test/README.md.
// Plain JavaScript, so that this process registers no loader of its own.
import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'

const TOP_FAILURE = /^not ok \d+ - (.+?)(?: # time=[\d.]+ms)?$/

/**
 * The test files of a failed run that hung before printing anything (tap's "no tests found",
 * killed by SIGKILL at the timeout), or `undefined` when anything else failed.
 * @param {string} output tap's TAP output
 * @returns {string[] | undefined}
 */
export function hungAtStart (output) {
  const lines = output.split('\n')
  /** @type {string[]} */
  const hung = []
  for (let i = 0; i < lines.length; i++) {
    const name = TOP_FAILURE.exec(lines[i] ?? '')?.[1]
    if (name === undefined) continue
    // tap's own line for a file past its timeout; the file's line says what it did.
    if (name === 'timeout!') continue
    const printedNothing = lines[i - 2] === `# Subtest: ${name}` && lines[i - 1] === '    1..0 # no tests found'
    const end = lines.indexOf('  ...', i)
    const details = lines.slice(i + 1, end === -1 ? i + 1 : end)
    const killed = details.includes('  signal: SIGKILL') && details.includes('  exitCode: null')
    if (!printedNothing || !killed) return undefined
    hung.push(name)
  }
  return hung.length > 0 ? hung : undefined
}

/**
 * Runs tap, echoing its output, and resolves with its exit code and output.
 * @param {string[]} args
 * @returns {Promise<{ code: number, output: string }>}
 */
function tap (args) {
  return new Promise((resolve, reject) => {
    const child = spawn('tap', args, { stdio: ['inherit', 'pipe', 'inherit'] })
    /** @type {Buffer[]} */
    const chunks = []
    child.stdout.on('data', (chunk) => { process.stdout.write(chunk); chunks.push(chunk) })
    child.on('error', reject)
    child.on('close', (code) => { resolve({ code: code ?? 1, output: Buffer.concat(chunks).toString('utf8') }) })
  })
}

async function main () {
  const args = process.argv.slice(2)
  const first = await tap(args)
  const hung = first.code === 0 ? undefined : hungAtStart(first.output)
  if (hung === undefined) return first.code
  process.stdout.write(`# tap-retry: ${hung.join(', ')} hung before printing anything and ran no test (killed at the timeout); running the suite once more\n`)
  return (await tap(args)).code
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => { process.exitCode = code }, (err) => { console.error(err); process.exitCode = 1 })
}
