// The browser build as an app's bundler makes it: src/index.ts bundled and minified by
// esbuild for the browser, in memory. The size test measures it; the Chromium test loads it.
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

export interface Bundle {
  code: string
  /** every file that went into it, relative to the package */
  inputs: string[]
}

export async function browserBundle (): Promise<Bundle> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))],
    absWorkingDir: fileURLToPath(new URL('..', import.meta.url)),
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    legalComments: 'none',
    write: false,
    metafile: true,
    logLevel: 'silent'
  })
  return { code: result.outputFiles[0]?.text ?? '', inputs: Object.keys(result.metafile.inputs) }
}
