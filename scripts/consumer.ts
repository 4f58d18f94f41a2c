// pnpm test:consumer [dir]: the packages as a user gets them. Installs the tarballs in dir
// (default: packs them first) with plain npm into a new app in the system's temporary folder,
// outside the workspace, type-checks the app with an ordinary NodeNext tsconfig
// (skipLibCheck false, no custom conditions) and runs it with plain node: a handshake
// accepted, one refused with its code, an in-band refresh, a revocation, /metrics read, and
// @wsguard/client's Node build connecting and stopping on a revocation. The app's
// devDependencies hold @types/redis-errors, as such an app needs from ioredis 6.1.0 on: its
// types import redis-errors, whose types it lists only as its own dev dependency.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { packAll, publishablePackages, ROOT, run, tarballName, timed } from './workspace.js'

const FIXTURE = join(ROOT, 'scripts', 'consumer')
const RUN_TIMEOUT_MS = 60_000

async function tarballsIn (dir: string | undefined): Promise<Map<string, string>> {
  if (dir === undefined) return await timed('pack', () => packAll(mkdtempSync(join(tmpdir(), 'wsguard-packs-'))))
  const packs = resolve(dir)
  return new Map(publishablePackages().map((pkg) => [pkg.manifest.name, join(packs, tarballName(pkg.manifest))]))
}

/** The environment of a user's shell: nothing pnpm, npm or Node options set for this script. */
function plainEnv (): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|pnpm_|NODE_OPTIONS$|NODE_PATH$|INIT_CWD$)/i.test(name)))
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
}

const tarballs = await tarballsIn(process.argv[2])
for (const [name, tarball] of tarballs) if (!existsSync(tarball)) throw new Error(`${name}: no tarball at ${tarball}`)

const app = mkdtempSync(join(tmpdir(), 'wsguard-consumer-'))
for (let dir = dirname(app); dir !== dirname(dir); dir = dirname(dir)) {
  // A node_modules above the app would let it resolve what it did not install.
  if (existsSync(join(dir, 'node_modules'))) throw new Error(`${join(dir, 'node_modules')} exists above the consumer app`)
}
console.log(`# consumer app in ${app}`)
try {
  cpSync(join(FIXTURE, 'src'), join(app, 'src'), { recursive: true })
  cpSync(join(FIXTURE, 'tsconfig.json'), join(app, 'tsconfig.json'))
  // Every tarball is a dependency, and an override, so the plugins' own "@wsguard/core"
  // range is met by the tarball rather than looked up in the registry.
  const manifest = JSON.parse(readFileSync(join(FIXTURE, 'package.json'), 'utf8')) as { dependencies: Record<string, string>, overrides?: Record<string, string> }
  const specs = Object.fromEntries([...tarballs].map(([name, tarball]) => [name, `file:${tarball}`]))
  manifest.dependencies = { ...manifest.dependencies, ...specs }
  manifest.overrides = specs
  writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')

  const options = { cwd: app, env: plainEnv() }
  await timed('npm install (tarballs and their dependencies)', () => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], options))
  const installed = readdirSync(join(app, 'node_modules', '@wsguard')).sort()
  console.log(`# installed @wsguard/${installed.join(', @wsguard/')}`)
  await timed('tsc (NodeNext, strict, skipLibCheck false)', () => run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], options))
  await timed('node dist/index.js', () => run(process.execPath, ['dist/index.js'], { ...options, timeout: RUN_TIMEOUT_MS }))
  console.log('# consumer: ok')
} finally {
  rmSync(app, { recursive: true, force: true })
}
