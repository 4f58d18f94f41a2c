// The pages' script, bundled for the browser at startup: src/browser/page.ts with
// @wsguard/client, by esbuild, in memory (as an app's bundler would, without a build step).
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

export async function pageScript (): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./browser/page.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // the workspace's packages run from source here, as the demo does
    conditions: ['@wsguard/source'],
    legalComments: 'none',
    write: false,
    logLevel: 'silent'
  })
  return (result.outputFiles[0] as { text: string }).text
}
