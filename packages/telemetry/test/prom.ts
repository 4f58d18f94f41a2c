/** Parses the Prometheus text exposition format into `name{k="v",…}` → value, labels sorted. */
export function parseMetrics (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    const labels: Array<[string, string]> = []
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g
    for (const l of (m[2] ?? '').matchAll(re)) labels.push([l[1] as string, (l[2] as string).replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c))])
    labels.sort((a, b) => a[0].localeCompare(b[0]))
    out.set(`${m[1] as string}{${labels.map(([k, v]) => `${k}="${v}"`).join(',')}}`, Number(m[3]))
  }
  return out
}

/** A sample's value, 0 when absent. Labels in any order. */
export function sample (metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const key = `${name}{${Object.entries(labels).sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) => `${k}="${v}"`).join(',')}}`
  return metrics.get(key) ?? 0
}
