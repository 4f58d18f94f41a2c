// pnpm packages:check [dir]: packs every publishable package as a release would (prepack
// builds it), then checks each tarball: our own rules (scripts/tarball.ts), publint, and
// @arethetypeswrong/cli. The tarballs stay in dir (default: a new temporary folder) for
// the consumer test.
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { inspectTarball } from './tarball.js'
import { packAll, publishablePackages, ROOT, run, timed } from './workspace.js'

const destination = process.argv[2] === undefined ? mkdtempSync(join(tmpdir(), 'wsguard-packs-')) : resolve(process.argv[2])
const bin = (name: string): string => join(ROOT, 'node_modules', '.bin', name)

const tarballs = await timed('pack, each package built by its prepack', () => packAll(destination))
const failures: string[] = []

await timed('tarball contents and metadata', () => {
  for (const pkg of publishablePackages()) {
    for (const problem of inspectTarball(pkg, tarballs.get(pkg.manifest.name) as string)) failures.push(`${pkg.manifest.name}: ${problem}`)
  }
})

// publint: exports, files and fields as Node and bundlers read them; warnings fail too.
await timed('publint', () => {
  for (const [name, tarball] of tarballs) {
    try {
      run(bin('publint'), ['run', tarball, '--strict', '--level', 'suggestion'])
    } catch { failures.push(`${name}: publint`) }
  }
})

// attw: the types resolve to the JavaScript they describe. The packages are ESM only
// (require() of them needs Node's require(esm)), so the CommonJS and node10 resolutions
// are left out with the esm-only profile; every other problem fails. Two at a time; a
// failing package's table is printed.
await timed('@arethetypeswrong/cli', async () => {
  const queue = [...tarballs]
  const attw = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [name, tarball] = next
      const args = [tarball, '--profile', 'esm-only', '--format', 'table-flipped', '--no-color', '--no-emoji']
      const child = spawn(bin('attw'), args, { stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => { output += String(chunk) })
      child.stderr.on('data', (chunk: Buffer) => { output += String(chunk) })
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
      if (code === 0) console.log(`attw ${name}: no problem`)
      else { console.log(output); failures.push(`${name}: attw`) }
    }
  }
  await Promise.all([attw(), attw()])
})

if (failures.length > 0) {
  console.error(`\n${failures.length} problem(s):\n${failures.map((f) => `- ${f}`).join('\n')}`)
  process.exit(1)
}
console.log(`# ${tarballs.size} tarballs in ${destination}: contents, publint and attw all pass`)
