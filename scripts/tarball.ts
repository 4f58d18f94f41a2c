// What a packed package must hold: everything its manifest names, resolvable maps, the
// license and publish metadata, and nothing that only makes sense inside the workspace.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { ROOT, type WorkspacePackage } from './workspace.js'

const DEPENDENCY_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies']
interface PackedManifest {
  exports?: unknown
  license?: string
  repository?: { type?: string, url?: string, directory?: string }
  homepage?: string
  bugs?: { url?: string }
  keywords?: string[]
  publishConfig?: { access?: string }
  files?: string[]
  engines?: { node?: string }
  [field: string]: unknown
}

const ALWAYS_SHIPPED = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']

function filesUnder (dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path, base) : [relative(base, path)]
  })
}

/** Every string a conditional `exports` value leads to, with the conditions on the way. */
function exportTargets (value: unknown, path: string[] = []): Array<{ conditions: string[], target: string }> {
  if (typeof value === 'string') return [{ conditions: path, target: value }]
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([key, inner]) => exportTargets(inner, [...path, key]))
}

/** An `exports` value without the workspace-only @wsguard/source condition. */
function withoutSourceCondition (value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).filter(([key]) => key !== '@wsguard/source').map(([key, inner]) => [key, withoutSourceCondition(inner)]))
}

/** The problems of one tarball, as sentences; empty when it is fine. */
export function inspectTarball (pkg: WorkspacePackage, tarball: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'wsguard-tarball-'))
  try {
    execFileSync('tar', ['-xzf', tarball, '-C', dir])
    const root = join(dir, 'package')
    const files = new Set(filesUnder(root))
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackedManifest
    const problems: string[] = []
    const ships = (target: string): boolean => files.has(relative(root, resolve(root, target)))

    for (const name of ALWAYS_SHIPPED) if (!files.has(name)) problems.push(`${name} is not in the tarball`)
    if (files.has('LICENSE') && readFileSync(join(root, 'LICENSE'), 'utf8') !== readFileSync(join(ROOT, 'LICENSE'), 'utf8')) {
      problems.push('LICENSE differs from the root LICENSE')
    }
    // publishConfig.exports repeats exports without the condition: a subpath added to one only
    // would be missing from the published package.
    if (JSON.stringify(manifest.exports) !== JSON.stringify(withoutSourceCondition(pkg.manifest.exports))) {
      problems.push('the published exports are not the workspace exports without @wsguard/source (publishConfig.exports is out of step)')
    }
    for (const { conditions, target } of exportTargets(manifest.exports)) {
      const where = `exports[${conditions.map((c) => JSON.stringify(c)).join('][')}]`
      if (conditions.includes('@wsguard/source')) problems.push(`${where}: the workspace-only @wsguard/source condition is published`)
      if (!ships(target)) problems.push(`${where} names ${target}, which is not in the tarball`)
    }
    for (const field of ['main', 'types', 'module']) {
      const target = manifest[field]
      if (typeof target === 'string' && !ships(target)) problems.push(`${field} names ${target}, which is not in the tarball`)
    }
    for (const field of DEPENDENCY_FIELDS) {
      for (const [name, range] of Object.entries((manifest[field] ?? {}) as Record<string, string>)) {
        if (String(range).startsWith('workspace:')) problems.push(`${field}.${name} is still ${String(range)} (pack with pnpm)`)
      }
    }
    for (const file of files) {
      if (!file.endsWith('.map')) continue
      const map = JSON.parse(readFileSync(join(root, file), 'utf8')) as { sources: string[], sourceRoot?: string }
      for (const source of map.sources) {
        const target = relative(root, resolve(root, dirname(file), map.sourceRoot ?? '', source))
        if (!files.has(target)) problems.push(`${file} maps to ${target}, which is not in the tarball`)
      }
    }
    if (![...files].some((file) => file.startsWith('dist/') && file.endsWith('.js'))) problems.push('no dist/*.js: nothing was built before packing')
    for (const file of files) {
      if (/(^|\/)(test|coverage|\.tap|node_modules)\//.test(file) || file.endsWith('.tsbuildinfo')) problems.push(`${file} should not be shipped`)
    }

    const repository = manifest.repository
    if (manifest.license !== 'MIT') problems.push('license is not MIT')
    if (repository?.type !== 'git' || typeof repository.url !== 'string') problems.push('repository { type: git, url } is missing')
    if (repository?.directory !== `packages/${pkg.dir}`) problems.push(`repository.directory is not packages/${pkg.dir}`)
    if (typeof manifest.homepage !== 'string') problems.push('homepage is missing')
    if (typeof manifest.bugs?.url !== 'string') problems.push('bugs.url is missing')
    if (!Array.isArray(manifest.keywords) || manifest.keywords.length === 0) problems.push('keywords are missing')
    if (manifest.publishConfig?.access !== 'public') problems.push('publishConfig.access is not public (a scoped package is private by default)')
    if (!Array.isArray(manifest.files)) problems.push('files is missing: the tarball would hold whatever the folder holds')
    if (manifest.engines?.node === undefined) problems.push('engines.node is missing')
    return problems
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
