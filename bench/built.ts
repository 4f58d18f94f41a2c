// The benchmarks measure what is shipped: the packages' compiled dist/, run by plain Node.
// Through tsx, the TypeScript sources are compiled with `keepNames`, which wraps every
// function created at run time in a `__name(...)` call (a defineProperty each): a profile put
// that at a few µs per connection, all of it on wsguard's side of every comparison. Imported
// first by each benchmark: it stops with a clear message when a package's dist/ is older
// than its src/ (run `npx -y pnpm@12.4.2 build`; `pnpm bench` builds first). With
// NODE_OPTIONS=--conditions=@wsguard/source the sources are measured instead, and nothing
// is checked.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PACKAGES = ['core', 'auth-handshake', 'topic-authz', 'session-expiry', 'telemetry', 'testing']

function files (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
}

const stale: string[] = []
for (const name of PACKAGES) {
  const entry = fileURLToPath(import.meta.resolve(`@wsguard/${name}`))
  if (!entry.endsWith(join('dist', 'index.js'))) continue // the sources, by request
  const root = dirname(dirname(entry))
  if (!existsSync(entry)) {
    stale.push(name)
    continue
  }
  const newestSource = Math.max(...files(join(root, 'src')).map((f) => statSync(f).mtimeMs))
  const oldestBuilt = Math.min(...files(join(root, 'dist')).map((f) => statSync(f).mtimeMs))
  if (newestSource > oldestBuilt) stale.push(name)
}
if (stale.length > 0) {
  console.error(`bench: dist/ is missing or older than src/ in ${stale.map((n) => `@wsguard/${n}`).join(', ')}; run \`npx -y pnpm@12.4.2 build\` first (or measure the sources with NODE_OPTIONS=--conditions=@wsguard/source)`)
  process.exit(1)
}
