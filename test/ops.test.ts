// The operators' files in ops/ query only what @wsguard/telemetry exports. What it exports is
// read from telemetry at test time: a server with all four plugins goes through one session
// of every kind of event (accepted and refused handshakes, a storm, an in-band refresh that
// succeeds and one that fails, a denied topic, a revocation that closes the session), then
// its registry and its /metrics text give each series and its labels. Every PromQL
// expression of the Grafana dashboard (targets, variable queries) and of the alerting rules
// is parsed with Prometheus's lezer grammar and checked against them; the files' own shape
// (datasource variable, severity, for, annotations, runbook links) is checked too.
import { existsSync, readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import { until } from '@wsguard/testing'
import { checkExpr, GRAFANA_BUILTINS, slug, substitute } from './ops/check.js'
import { exported, TARGET_LABELS, type ExportedSeries } from './ops/exported.js'
import { references } from './ops/promql.js'
import { securityServer } from './security/server.js'
import { claims, ec, sign } from './security/tokens.js'

const ROOT = new URL('../', import.meta.url)
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8')
const DASHBOARD = 'ops/grafana/wsguard.json'
const RULES = 'ops/prometheus/wsguard-alerts.yml'
// Grafana's own variable syntax, not a JavaScript template
// eslint-disable-next-line no-template-curly-in-string
const DATASOURCE_VAR = '${datasource}'

/** Telemetry's series after a run that raises every metric it has. */
async function telemetrySeries (t: Test): Promise<{ series: Map<string, ExportedSeries>, families: Set<string> }> {
  const server = await securityServer(t, {
    // a storm at the second handshake from one address, only logged
    telemetry: {
      // the storm's shared counter store lets this process decide (fail-open: `undefined`),
      // so each gated handshake counts as a decision taken without it
      anomalies: { reconnectStorm: { perIp: { max: 1, windowMs: 60_000 }, action: 'log', store: { hit: () => undefined } } },
      // a store that answers: its gauge is one of the families the files may query
      metrics: { stores: { redis: { available: true } } }
    }
  })
  const now = server.clock.now()
  const client = await server.open(t, sign(ec, claims(now)))
  t.match(await client.ask('authorize subscribe orders.globex.all'), { allow: false }, 'a topic of another tenant is denied')
  t.match(await client.ask({ type: 'auth.refresh', token: sign(ec, claims(now, { exp: Math.floor(now / 1000) + 7200 })) }), { type: 'auth.refreshed' }, 'a refresh succeeds')
  t.match(await client.ask({ type: 'auth.refresh', token: 'not-a-token' }), { type: 'auth.refresh_failed' }, 'a refresh fails')
  t.equal((await server.bearer(t, 'not-a-token')).status, 401, 'a handshake is refused')
  await server.app.wsSessions.revoke({ subject: 'alice' })
  t.equal((await client.closed).code, 4403, 'the revocation closes the session')

  const registry = server.app.wsguardTelemetry.registry
  if (registry === undefined) throw new Error('telemetry has no registry')
  // the close can reach the client before the server publishes session.closed
  let text = ''
  await until(async () => (text = (await server.app.inject('/metrics')).body).includes('wsguard_session_duration_seconds_count{'),
    'the closed session in /metrics')
  const { series, problems } = exported(registry.getMetricsAsArray(), text)
  t.same(problems, [], 'every sample of /metrics is a derived series with declared labels')
  const families = new Set([...series.values()].map((s) => s.family))
  for (const family of families) {
    t.ok(text.split('\n').some((l) => l.startsWith(family) && !l.startsWith('#')), `the run produced samples of ${family}`)
  }
  return { series, families }
}

interface Panel { type: string, title: string, datasource?: unknown, targets?: Array<{ expr: string, datasource?: unknown }>, id: number }
interface Variable { name: string, type: string, query?: unknown, datasource?: unknown }
interface Dashboard { uid: string, panels: Panel[], templating: { list: Variable[] } }
interface Rule { alert: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
interface RuleFile { groups: Array<{ name: string, rules: Rule[] }> }

t.test('the checker', async (t) => {
  const series = new Map<string, ExportedSeries>([
    ['m_total', { family: 'm_total', type: 'counter', labels: new Set(['route', 'job']), le: new Set() }],
    ['h_bucket', { family: 'h', type: 'histogram', labels: new Set(['route', 'le']), le: new Set(['1', '+Inf']) }]
  ])
  t.same(checkExpr('sum by (route) (rate(m_total{route="/a"}[5m])) / sum by (job) (m_total)', series), [], 'a good expression')
  t.same(checkExpr('histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m]))) and h_bucket{le="1"}', series), [], 'le: a bound')
  t.same(checkExpr('nope_total', series), ['metric nope_total is not exported by telemetry'], 'an unknown metric')
  t.same(checkExpr('sum by (nope) (nope_total) + m_total{nope="x"}', series),
    ['metric nope_total is not exported by telemetry', 'm_total has no label nope'], 'an unknown label in a selector')
  t.same(checkExpr('sum without (code) (m_total)', series), ['without (code): m_total has no label code'], 'an unknown grouping label')
  t.same(checkExpr('h_bucket{le="2"}', series), ['h_bucket has no bucket le="2" (bounds: 1, +Inf)'], 'a bound the histogram lacks')
  t.same(checkExpr('h_bucket{le=~"2"}', series), [], 'le matched by regex is not a bound')
  t.match(checkExpr('sum(rate(m_total[5m)', series), [/^syntax error at/], 'a syntax error')
  t.match(checkExpr('{__name__="m_total"}', series), [/without a metric name/], 'a selector without a name')
  t.match(checkExpr('m_total / on (route) m_total', series), [/MatchingModifierClause/], 'on() is not checked, so refused')
  t.match(checkExpr('m_total{"route"="x"}', series), [/QuotedLabelMatcher/], 'a quoted label name is refused')
  t.match(checkExpr("m_total{route='x'}", series), [/not in double quotes/], 'a single-quoted value is refused')

  const problems: string[] = []
  // eslint-disable-next-line no-template-curly-in-string
  t.equal(substitute('rate(m_total{route=~"$route", job=~"${job}"}[$__rate_interval])', new Set(['route', 'job']), problems),
    'rate(m_total{route=~".*", job=~".*"}[1m])')
  t.same(problems, [])
  substitute('m_total{route=~"$nope"}', new Set(), problems)
  t.same(problems, ['undefined variable $nope'], 'an undefined variable')

  t.equal(slug('WsguardFailureSpike'), 'wsguardfailurespike')
  t.equal(slug('Alerts: how to tune them'), 'alerts-how-to-tune-them')
})

t.test('the derivation of series from telemetry', async (t) => {
  const { series, problems } = exported([{ name: 'h' }, { name: 'c_total', labelNames: ['route'] }, { name: 'lost' }],
    '# TYPE h histogram\nh_bucket{le="1"} 0\nh_sum 0\nh_count 0\n# TYPE c_total counter\nc_total{route="/a"} 1\n' +
    'c_total{code="x"} 1\nh_sum{le="1"} 0\nstray 1\nnot a sample\n')
  t.same([...series.keys()], ['h_bucket', 'h_sum', 'h_count', 'c_total'], 'a histogram is three series')
  t.same([...(series.get('h_bucket') as ExportedSeries).labels], [...TARGET_LABELS, 'le'])
  t.same([...(series.get('h_bucket') as ExportedSeries).le], ['1'])
  t.same(problems, [
    'lost: registered but has no # TYPE line in /metrics',
    'c_total: label code is not declared: c_total{code="x"} 1',
    'h_sum: label le is not declared: h_sum{le="1"} 0',
    'a sample the derivation does not know: stray 1',
    'a sample the derivation does not know: not a sample'
  ])
})

t.test('ops files query only what telemetry exports', async (t) => {
  const { series, families } = await telemetrySeries(t)
  t.ok(series.has('wsguard_handshake_duration_seconds_bucket') && series.has('wsguard_handshake_duration_seconds_sum') &&
    series.has('wsguard_handshake_duration_seconds_count'), 'a histogram is queried as _bucket, _sum and _count')

  t.test('the Grafana dashboard', async (t) => {
    const dashboard = JSON.parse(read(DASHBOARD)) as Dashboard
    const variables = dashboard.templating.list
    const defined = new Set(variables.map((v) => v.name))
    t.match(variables.find((v) => v.name === 'datasource'), { type: 'datasource', query: 'prometheus' }, 'a datasource variable')
    t.ok(defined.has('route'), 'a $route variable')
    for (const name of defined) t.notOk(name in GRAFANA_BUILTINS, `${name} does not shadow a Grafana variable`)

    // every datasource reference anywhere is the variable, never a fixed uid
    const refs: unknown[] = []
    JSON.stringify(dashboard, (key, value: unknown) => { if (key === 'datasource') refs.push(value); return value })
    t.ok(refs.length > 0)
    for (const ref of refs) t.same(ref, { type: 'prometheus', uid: DATASOURCE_VAR }, 'a datasource is the variable')

    const queried = new Set<string>()
    const check = (where: string, expr: string): void => {
      const problems: string[] = []
      const promql = substitute(expr, defined, problems)
      problems.push(...checkExpr(promql, series))
      t.same(problems, [], `${where}: ${expr}`)
      for (const s of references(promql).selectors) {
        const family = series.get(s.metric)?.family
        if (family !== undefined) queried.add(family)
      }
    }
    for (const v of variables.filter((v) => v.type === 'query')) {
      const m = /^label_values\((.+), *(\w+)\)$/.exec(String(v.query))
      t.ok(m, `variable ${v.name}: label_values(selector, label)`)
      const [, selector, label] = m as RegExpExecArray
      check(`variable ${v.name}`, `sum by (${label}) (${selector})`)
    }
    const panels = dashboard.panels.filter((p) => p.type !== 'row')
    t.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique')
    for (const p of panels) {
      t.ok((p.targets ?? []).length > 0, `${p.title}: has queries`)
      for (const target of p.targets ?? []) check(p.title, target.expr)
    }
    t.same([...families].filter((f) => !queried.has(f)), [], 'every metric telemetry exports is on the dashboard')
  })

  t.test('the Prometheus alerting rules', async (t) => {
    const file = parseYaml(read(RULES)) as RuleFile
    const rules = file.groups.flatMap((g) => g.rules)
    t.ok(rules.length >= 4)
    t.equal(new Set(rules.map((r) => r.alert)).size, rules.length, 'alert names are unique')
    for (const rule of rules) {
      t.test(rule.alert, async (t) => {
        t.same(checkExpr(rule.expr, series), [], 'its expression refers only to exported series and labels')
        t.match(rule.for, /^\d+[smh]$/, 'a for: duration')
        t.match(rule.labels?.severity, /^(warning|critical)$/, 'a severity')
        const notes = rule.annotations ?? {}
        t.ok(typeof notes.summary === 'string' && typeof notes.description === 'string', 'summary and description')
        const grouped = new Set(references(rule.expr).groupings.flatMap((g) => g.labels))
        for (const [, label] of `${notes.summary} ${notes.description}`.matchAll(/\$labels\.(\w+)/g)) {
          t.ok(grouped.has(label as string), `$labels.${label} is kept by the expression`)
        }
        const [path, anchor] = String(notes.runbook_url).split('#') as [string, string]
        t.ok(existsSync(new URL(path, ROOT)), `runbook ${path} exists`)
        const headings = [...read(path).matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1] as string))
        t.ok(headings.includes(anchor), `runbook anchor #${anchor} is a heading of ${path}`)
      })
    }
  })
})
