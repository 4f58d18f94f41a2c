// The dashboard page: polls <path>/data once a second and draws what telemetry counted.
// No framework, no chart library: SVG drawn by hand. Every number shown is the snapshot's
// own (element ids and data-* attributes are stable, for tests and for people).
/* global CSS, document, fetch, setTimeout */

const SVG = 'http://www.w3.org/2000/svg'
const HISTORY = 120 // points kept per chart: two minutes at one a second
const POLL_MS = 1000
const LOG_MAX = 20
const KIND_NAMES = { 'reconnect-storm': 'reconnect storms', 'failure-spike': 'failure spikes', 'long-session': 'long sessions' }

const body = document.body
const dataUrl = body.dataset.dataUrl
const stormUrl = body.dataset.stormUrl
const $ = (id) => document.getElementById(id)

/** one point per poll: time, and the counts the charts draw */
const history = []
let previous = null
let polls = 0

function el (name, attrs = {}, text) {
  const node = name.startsWith('svg:') ? document.createElementNS(SVG, name.slice(4)) : document.createElement(name)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  if (text !== undefined) node.textContent = String(text)
  return node
}

function setValue (id, value, text = String(value)) {
  const node = $(id)
  node.dataset.value = String(value)
  node.textContent = text
}

function clock (ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false })
}

function seconds (s) {
  if (s === null) return '–'
  if (s < 60) return `${Number(s.toFixed(s < 10 ? 1 : 0))} s`
  if (s < 3600) return `${Number((s / 60).toFixed(1))} min`
  return `${Number((s / 3600).toFixed(1))} h`
}

function rate (n) {
  return `${Number(n.toFixed(2))}/s`
}

/** Line chart: each series a polyline over the history, scaled to the highest value shown. */
function lineChart (svg, series) {
  svg.replaceChildren()
  const { width: w, height: h } = svg.viewBox.baseVal
  const pad = { l: 40, r: 8, t: 8, b: 20 }
  const max = Math.max(1, ...series.flatMap((s) => s.values))
  const x = (i) => pad.l + (w - pad.l - pad.r) * (i + HISTORY - history.length) / (HISTORY - 1)
  const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - v / max)
  for (const v of [0, max / 2, max]) {
    svg.append(el('svg:line', { x1: pad.l, x2: w - pad.r, y1: y(v), y2: y(v), class: 'grid' }))
    svg.append(el('svg:text', { x: pad.l - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, Number(v.toFixed(1))))
  }
  svg.append(el('svg:text', { x: pad.l, y: h - 4, class: 'axis' }, '−2 min'))
  svg.append(el('svg:text', { x: w - pad.r, y: h - 4, 'text-anchor': 'end', class: 'axis' }, 'now'))
  for (const s of series) {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
    if (points !== '') svg.append(el('svg:polyline', { points, class: `line ${s.cls}`, 'data-series': s.cls }))
  }
}

/** Bar chart of the sessions that ended in each duration bucket (not cumulative). */
function durationChart (svg, buckets) {
  svg.replaceChildren()
  const w = 600
  const h = 160
  const pad = { l: 8, r: 8, t: 16, b: 20 }
  const counts = buckets.map((b, i) => b.count - (i === 0 ? 0 : buckets[i - 1].count))
  const max = Math.max(1, ...counts)
  const slot = (w - pad.l - pad.r) / Math.max(1, buckets.length)
  buckets.forEach((b, i) => {
    const bh = (h - pad.t - pad.b) * counts[i] / max
    const x = pad.l + i * slot
    const label = b.le === '+Inf' ? `>${seconds(buckets[i - 1]?.le ?? 0)}` : `≤${seconds(b.le)}`
    svg.append(el('svg:rect', { x: x + 3, y: h - pad.b - bh, width: slot - 6, height: bh, class: 'bar', 'data-le': b.le, 'data-count': counts[i] }))
    svg.append(el('svg:text', { x: x + slot / 2, y: h - 6, 'text-anchor': 'middle', class: 'axis' }, label))
    if (counts[i] > 0) svg.append(el('svg:text', { x: x + slot / 2, y: h - pad.b - bh - 3, 'text-anchor': 'middle', class: 'axis' }, counts[i]))
  })
}

function rows (tbody, items, cells, key) {
  tbody.replaceChildren(...items.map((item) => {
    const tr = el('tr', key(item))
    for (const [text, cls] of cells(item)) tr.append(el('td', cls === undefined ? {} : { class: cls }, text))
    return tr
  }))
}

function render (s) {
  const dt = previous === null ? 0 : (s.at - previous.at) / 1000
  const perSecond = (now, before) => (dt > 0 ? Math.max(0, now - before) / dt : 0)
  const before = new Map((previous?.handshakes.byCode ?? []).map((r) => [`${r.outcome} ${r.code}`, r.count]))

  history.push({
    at: s.at,
    accepted: perSecond(s.handshakes.accepted, previous?.handshakes.accepted ?? s.handshakes.accepted),
    rejected: perSecond(s.handshakes.rejected, previous?.handshakes.rejected ?? s.handshakes.rejected),
    active: s.sessions.active
  })
  if (history.length > HISTORY) history.shift()
  const last = history[history.length - 1]

  setValue('hs-accepted', s.handshakes.accepted)
  setValue('hs-rejected', s.handshakes.rejected)
  setValue('hs-accepted-rate', last.accepted, rate(last.accepted))
  setValue('hs-rejected-rate', last.rejected, rate(last.rejected))
  lineChart($('hs-chart'), [
    { cls: 'accepted', values: history.map((p) => p.accepted) },
    { cls: 'rejected', values: history.map((p) => p.rejected) }
  ])
  rows($('hs-codes').tBodies[0], s.handshakes.byCode,
    (r) => [[r.outcome, r.outcome], [r.code, 'code'], [r.count, 'num count'], [rate(perSecond(r.count, before.get(`${r.outcome} ${r.code}`) ?? r.count)), 'num']],
    (r) => ({ 'data-outcome': r.outcome, 'data-code': r.code, 'data-count': r.count }))

  setValue('sessions-active', s.sessions.active)
  lineChart($('sessions-chart'), [{ cls: 'active', values: history.map((p) => p.active) }])
  rows($('sessions-routes').tBodies[0], s.sessions.byRoute,
    (r) => [[r.route === '' ? '(no route)' : r.route, 'code'], [r.active, 'num count']],
    (r) => ({ 'data-route': r.route, 'data-count': r.active }))

  const d = s.sessionDurations
  setValue('durations-count', d.count)
  setValue('durations-p50', d.p50 ?? '', seconds(d.p50))
  setValue('durations-p95', d.p95 ?? '', seconds(d.p95))
  durationChart($('durations-chart'), d.buckets)

  const counts = $('anomaly-counts')
  for (const [kind, n] of Object.entries(s.anomalies)) {
    let tile = counts.querySelector(`[data-anomaly="${CSS.escape(kind)}"]`)
    if (tile === null) {
      tile = el('li', { class: 'tile anomaly', 'data-anomaly': kind })
      tile.append(el('span', { class: 'label' }, KIND_NAMES[kind] ?? kind), el('span', { class: 'value', id: `anomaly-${kind}` }))
      counts.append(tile)
    }
    setValue(`anomaly-${kind}`, n)
    tile.classList.toggle('raised', n > 0)
    const was = previous?.anomalies[kind] ?? 0
    if (previous !== null && n > was) {
      const log = $('anomaly-log')
      log.prepend(el('li', { 'data-anomaly': kind }, `${clock(s.at)} ${KIND_NAMES[kind] ?? kind}: +${n - was}`))
      while (log.children.length > LOG_MAX) log.lastElementChild.remove()
    }
  }

  setValue('refreshes-success', s.refreshes.success)
  setValue('refreshes-failure', s.refreshes.failure)
  setValue('revocations', s.revocations)
  $('stores').replaceChildren(...s.stores.map((r) => el('li', { class: r.available ? 'up' : 'down', 'data-store': r.store, 'data-available': r.available }, `store ${r.store}: ${r.available ? 'available' : 'unavailable'}`)))

  const button = $('storm-button')
  if (!s.storm) button.title = 'no storm was configured for this dashboard'
  else if (button.dataset.busy !== 'true') button.disabled = false

  previous = s
  polls++
  body.dataset.polls = String(polls)
  body.dataset.at = String(s.at)
}

function status (state, text) {
  const node = $('status')
  node.dataset.state = state
  node.textContent = text
}

async function poll () {
  try {
    const response = await fetch(dataUrl, { cache: 'no-store', headers: { accept: 'application/json' } })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const s = await response.json()
    render(s)
    status('live', `live · ${clock(s.at)}`)
  } catch (err) {
    status('error', `no data (${err.message}); retrying every second`)
  } finally {
    setTimeout(poll, POLL_MS)
  }
}

$('storm-button').addEventListener('click', async () => {
  const button = $('storm-button')
  const out = $('storm-status')
  button.disabled = true
  button.dataset.busy = 'true'
  out.dataset.state = 'running'
  out.textContent = 'reconnect storm running…'
  try {
    const response = await fetch(stormUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    const answer = await response.json().catch(() => ({}))
    if (!response.ok) throw new Error(answer.message ?? `HTTP ${response.status}`)
    out.dataset.state = 'finished'
    out.textContent = `reconnect storm finished in ${answer.durationMs} ms: watch the anomalies and the refused handshakes`
  } catch (err) {
    out.dataset.state = 'failed'
    out.textContent = `the storm did not run: ${err.message}`
  } finally {
    button.dataset.busy = 'false'
    button.disabled = false
  }
})

poll()
