// Where a credential must never show up: a response, a header we send, a log line.

/**
 * The text of captured log lines, with every serialized Buffer (`{"type":"Buffer","data":[…]}`,
 * as pino writes an error's raw packet) decoded as latin1 and appended, so bytes logged as
 * numbers are searched too.
 */
export function searchableLog (lines: readonly string[]): string {
  const text = lines.join('\n')
  const decoded = [...text.matchAll(/"type":"Buffer","data":\[([\d,]*)\]/g)]
    .map((m) => Buffer.from((m[1] as string).split(',').map(Number)).toString('latin1'))
  return [text, ...decoded].join('\n')
}

/** The secrets found in `haystack`, each once, cut to 40 characters for the report. */
export function leaked (haystack: string, secrets: Iterable<string>): string[] {
  return [...new Set(secrets)].filter((s) => haystack.includes(s)).map((s) => (s.length > 40 ? `${s.slice(0, 40)}…` : s))
}

/**
 * The runs of base64url characters in `text` (what a token or a token segment is made of),
 * for looking up many secrets at once: a credential that reached the text is one run, or
 * one run per segment, between quotes, `=`, `.` or spaces.
 */
export function base64urlRuns (text: string): Set<string> {
  return new Set(text.match(/[A-Za-z0-9_-]{16,}/g))
}
