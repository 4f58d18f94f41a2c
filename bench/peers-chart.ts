// The chart bench/peers.ts writes beside its table (bench/peers.svg): hand-written SVG from the
// measured numbers, one panel per scenario, one horizontal bar per peer, lower is better.

export interface Bar {
  label: string
  value: number
  /** printed after the value, e.g. the ratio to the bare hook */
  note: string
  color: string
}

export interface Panel { title: string, unit: string, bars: Bar[] }

const WIDTH = 960
const LABEL_W = 300
const BAR_MAX_W = 440
const BAR_H = 16
const GAP = 5
const PANEL_HEAD = 30

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** Splits a line of small print after a ', ' or '; ' so that no piece is longer than `max` characters. */
function wrap (line: string, max = 150): string[] {
  const out: string[] = []
  let rest = line
  while (rest.length > max) {
    const cut = Math.max(rest.lastIndexOf(', ', max), rest.lastIndexOf('; ', max))
    if (cut <= 0) break
    out.push(rest.slice(0, cut + 1))
    rest = rest.slice(cut + 2)
  }
  return [...out, rest]
}

/** One SVG document: a title, lines of small print (what was run, where), then the panels one under another. */
export function chartSvg (title: string, smallPrint: string[], panels: Panel[]): string {
  const lines = smallPrint.flatMap((line) => wrap(line))
  const parts: string[] = lines.map((line, i) => `<text x="16" y="${42 + i * 14}" font-size="11" fill="#555">${esc(line)}</text>`)
  let y = 46 + lines.length * 14
  for (const panel of panels) {
    const max = Math.max(...panel.bars.map((b) => b.value), Number.MIN_VALUE)
    parts.push(`<text x="16" y="${y + 18}" font-size="14" font-weight="bold">${esc(panel.title)} <tspan font-weight="normal" fill="#555">(${esc(panel.unit)}, lower is better)</tspan></text>`)
    y += PANEL_HEAD
    for (const bar of panel.bars) {
      const w = Number.isFinite(bar.value) ? Math.max(1, (bar.value / max) * BAR_MAX_W) : 0
      const text = Number.isFinite(bar.value) ? `${bar.value >= 100 ? bar.value.toFixed(0) : bar.value.toFixed(1)} ${bar.note}` : 'not measured'
      parts.push(
        `<text x="${LABEL_W - 8}" y="${y + BAR_H - 4}" font-size="12" text-anchor="end">${esc(bar.label)}</text>`,
        `<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${bar.color}"/>`,
        `<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + BAR_H - 4}" font-size="12">${esc(text)}</text>`
      )
      y += BAR_H + GAP
    }
    y += 12
  }
  const height = y + 8
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    '</svg>',
    ''
  ].join('\n')
}
