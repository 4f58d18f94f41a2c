// Regenerates docs/errors.md from the catalogue in src/errors.ts (pnpm errors:doc).
import { writeFileSync } from 'node:fs'
import { errorTableMarkdown } from '../src/errors-doc.js'

const header = '# wsguard error codes\n\nGenerated from `packages/core/src/errors.ts` by `pnpm errors:doc`; a core test fails when this file is stale.\n\n'
writeFileSync(new URL('../../../docs/errors.md', import.meta.url), header + errorTableMarkdown())
