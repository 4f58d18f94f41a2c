import { Writable } from 'node:stream'

/** A log destination for Fastify's logger that keeps every line, to assert what was (not) logged. */
export interface CapturedLogs {
  stream: Writable
  lines: string[]
  /** all lines joined, for "the token appears nowhere" checks */
  text(): string
}

export function captureLogs (): CapturedLogs {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0))
      cb()
    }
  })
  return { stream, lines, text: () => lines.join('\n') }
}
