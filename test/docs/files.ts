// The Markdown docs that are checked against the code, read from the repository root.
import { readFileSync } from 'node:fs'

/** Every Markdown file a user or contributor reads (changelogs aside). */
export const DOCS = [
  'README.md',
  'docs/ARCHITECTURE.md',
  'docs/THREAT-MODEL.md',
  'docs/errors.md',
  'docs/recipes/autoload.md',
  'docs/recipes/mercurius.md',
  'docs/recipes/trpc.md',
  'packages/core/README.md',
  'packages/auth-handshake/README.md',
  'packages/topic-authz/README.md',
  'packages/session-expiry/README.md',
  'packages/telemetry/README.md',
  'packages/redis/README.md',
  'packages/testing/README.md',
  'packages/client/README.md',
  'examples/minimal/README.md',
  'examples/workload-mtls/README.md',
  'examples/demo/README.md',
  'test/README.md',
  'bench/README.md',
  'ops/README.md'
]

/** A file's text, by its path from the repository root. */
export function readDoc (path: string): string {
  return readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
}
