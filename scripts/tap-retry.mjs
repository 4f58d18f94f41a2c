// Runs tap with this process's arguments. When tap fails only because test files hung, killed
// at their timeout without answering tap's timeout signal, having printed no failed test, it
// runs the suite once more and says so; any other failure stands. A file that ignores tap's
// signal has a main thread that runs no JavaScript: Node 20 can deadlock there on its
// module-loader thread (nodejs/node#50948; every test process registers tap's and tsx's
// loaders), at startup or at a later import. A test waiting on an event answers the signal,
// gets tap's `timeout!` inside the file, and fails as before. See test/README.md.
// Plain JavaScript, so that this process registers no loader of its own.
import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'

const TOP_FAILURE = /^not ok \d+ - (.+?)(?: # time=[\d.]+ms)?$/

/**
 * The test files of a failed run that hung (killed by SIGKILL at the timeout) without printing a
 * failed test, or `undefined` when anything else failed.
 * @param {string} output tap's TAP output
 * @returns {string[] | undefined}
 */
export function hungWithoutFailure (output) {
  const lines = output.split('\n')
  /** @type {string[]} */
  const hung = []
  for (let i = 0; i < lines.length; i++) {
    const name = TOP_FAILURE.exec(lines[i] ?? '')?.[1]
    if (name === undefined) continue
    // tap's own line for a file past its timeout; the file's line says what it did.
    if (name === 'timeout!') continue
    const start = lines.lastIndexOf(`# Subtest: ${name}`, i)
    const printed = lines.slice(start === -1 ? i : start + 1, i)
    const end = lines.indexOf('  ...', i)
    const details = lines.slice(i + 1, end === -1 ? i + 1 : end)
    const killed = details.includes('  signal: SIGKILL') && details.includes('  exitCode: null')
    if (start === -1 || !killed || printed.some((l) => /^\s*not ok /.test(l))) return undefined
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
  const hung = first.code === 0 ? undefined : hungWithoutFailure(first.output)
  if (hung === undefined) return first.code
  process.stdout.write(`# tap-retry: ${hung.join(', ')} hung (killed at the timeout, tap's signal unanswered) with no failed test; running the suite once more\n`)
  return (await tap(args)).code
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => { process.exitCode = code }, (err) => { console.error(err); process.exitCode = 1 })
}
