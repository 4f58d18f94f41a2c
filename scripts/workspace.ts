// The publishable packages of the workspace, and how to pack them as pnpm publishes them.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const PNPM = ['-y', 'pnpm@12.4.2']

export interface Manifest {
  name: string
  version: string
  private?: boolean
  [field: string]: unknown
}

export interface WorkspacePackage {
  /** folder name under packages/ */
  dir: string
  path: string
  manifest: Manifest
}

/** Every package under packages/ that is not private: what a release publishes. */
export function publishablePackages (): WorkspacePackage[] {
  return readdirSync(join(ROOT, 'packages'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => {
      const path = join(ROOT, 'packages', entry.name)
      const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as Manifest
      return { dir: entry.name, path, manifest }
    })
    .filter((pkg) => pkg.manifest.private !== true)
}

/** The file name `pnpm pack` gives a package's tarball. */
export function tarballName (manifest: Manifest): string {
  return `${manifest.name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`
}

/** Runs a command; its output goes to ours; a failure throws, naming the command. */
export function run (command: string, args: string[], options: SpawnSyncOptions = {}): void {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options })
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${String(result.status ?? result.signal)}`})`)
  }
}

/**
 * Packs every publishable package into `destination` with pnpm, as `pnpm publish` would:
 * prepack cleans and builds dist, `workspace:` ranges become versions, publishConfig applies.
 * Returns the tarball of each package by name.
 */
export function packAll (destination: string): Map<string, string> {
  const packages = publishablePackages()
  const filters = packages.flatMap((pkg) => ['--filter', pkg.manifest.name])
  const result = spawnSync('npx', [...PNPM, '-r', '--workspace-concurrency=2', ...filters, 'pack', '--pack-destination', destination], { cwd: ROOT, encoding: 'utf8' })
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr)
    throw new Error('pnpm pack failed')
  }
  return new Map(packages.map((pkg) => [pkg.manifest.name, join(destination, tarballName(pkg.manifest))]))
}

/** Runs `fn`, prints how long it took, and returns its result. */
export async function timed<T> (label: string, fn: () => T | Promise<T>): Promise<T> {
  const started = performance.now()
  const result = await fn()
  console.log(`# ${label}: ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return result
}
