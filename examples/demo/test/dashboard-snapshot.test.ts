import t from 'tap'
import { ANOMALY_KINDS, MAX_ROWS, quantile, snapshot, type MetricJson } from '../src/dashboard/index.js'

t.test('quantile: as histogram_quantile estimates it', async (t) => {
  t.equal(quantile(0.5, []), null, 'no buckets')
  t.equal(quantile(0.5, [{ le: 1, count: 0 }, { le: '+Inf', count: 0 }]), null, 'nothing observed')
  const b = [{ le: 1, count: 2 }, { le: 10, count: 2 }, { le: 60, count: 6 }, { le: '+Inf' as const, count: 8 }]
  t.equal(quantile(0.25, b), 1, 'the top of the first bucket')
  t.equal(quantile(0.125, b), 0.5, 'halfway into the first bucket, from 0')
  t.equal(quantile(0.5, b), 10 + 50 * (4 - 2) / 4, 'interpolated inside (10, 60]')
  t.equal(quantile(0.95, b), 60, "in '+Inf': the highest finite bound")
  t.equal(quantile(0, [{ le: 1, count: 0 }, { le: '+Inf', count: 3 }]), 1, 'q 0 in an empty bucket: its bound')
  t.equal(quantile(0.5, [{ le: '+Inf', count: 3 }]), 0, "only '+Inf': 0")
})

const metric = (name: string, values: MetricJson['values']): MetricJson => ({ name, values })

t.test('snapshot: sums over routes, sorts, and bounds every list', async (t) => {
  const many = Array.from({ length: MAX_ROWS + 10 }, (_, i) => ({ value: 1, labels: { route: `/r${String(i).padStart(3, '0')}`, outcome: 'rejected', code: `WSG_${i}` } }))
  const kinds = Array.from({ length: MAX_ROWS + 10 }, (_, i) => ({ value: i, labels: { kind: `kind-${String(i).padStart(3, '0')}` } }))
  const s = snapshot([
    metric('x_handshakes_total', [
      { value: 2, labels: { route: '/a', outcome: 'accepted', code: 'none' } },
      { value: 3, labels: { route: '/b', outcome: 'accepted', code: 'none' } },
      ...many
    ]),
    metric('x_sessions_active', [{ value: 1, labels: { route: '/b' } }, { value: 4, labels: { route: '' } }]),
    metric('x_session_duration_seconds', [
      { value: 1, metricName: 'x_session_duration_seconds_bucket', labels: { le: 1, route: '/a', code: '1000' } },
      { value: 1, metricName: 'x_session_duration_seconds_bucket', labels: { le: '+Inf', route: '/a', code: '1000' } },
      { value: 0, metricName: 'x_session_duration_seconds_bucket', labels: { le: 1, route: '/b', code: '4401' } },
      { value: 1, metricName: 'x_session_duration_seconds_bucket', labels: { le: '+Inf', route: '/b', code: '4401' } },
      { value: 100.5, metricName: 'x_session_duration_seconds_sum', labels: { route: '/a', code: '1000' } },
      { value: 2, metricName: 'x_session_duration_seconds_count', labels: { route: '/a', code: '1000' } }
    ]),
    metric('x_refreshes_total', [{ value: 4, labels: { route: '/a', outcome: 'success', code: 'none' } }, { value: 1, labels: { route: '/a', outcome: 'failure', code: 'WSG_TOKEN_INVALID' } }]),
    metric('x_revocations_total', [{ value: 2, labels: { route: '/a', by: 'subject' } }, { value: 1, labels: { route: '/b', by: 'tokenId' } }]),
    metric('x_anomalies_total', [{ value: 7, labels: { kind: 'reconnect-storm' } }, ...kinds]),
    metric('x_store_available', [{ value: 0, labels: { store: 'redis' } }, { value: 1, labels: { store: 'memory' } }]),
    metric('other_handshakes_total', [{ value: 99, labels: { outcome: 'accepted', code: 'none' } }]),
    metric('x_unknown', [{ value: 1, labels: {} }])
  ], 'x_', 1234, true)
  t.equal(s.at, 1234)
  t.equal(s.storm, true)
  t.equal(s.handshakes.accepted, 5, 'summed over routes; another prefix is not read')
  t.equal(s.handshakes.rejected, MAX_ROWS + 10, 'totals count every row')
  t.equal(s.handshakes.byCode.length, MAX_ROWS, 'the list is cut')
  t.same(s.handshakes.byCode[0], { outcome: 'accepted', code: 'none', count: 5 })
  t.same(s.sessions, { active: 5, byRoute: [{ route: '', active: 4 }, { route: '/b', active: 1 }] })
  t.same(s.sessionDurations, { count: 2, sumSeconds: 100.5, buckets: [{ le: 1, count: 1 }, { le: '+Inf', count: 2 }], p50: 1, p95: 1 })
  t.same(s.refreshes, { success: 4, failure: 1 })
  t.equal(s.revocations, 3)
  t.same(s.stores, [{ store: 'memory', available: true }, { store: 'redis', available: false }])
  t.equal(Object.keys(s.anomalies).length, MAX_ROWS, 'anomaly kinds are cut too')
  t.equal(s.anomalies['reconnect-storm'], 7)
  for (const kind of ANOMALY_KINDS) t.type(s.anomalies[kind], 'number', `${kind} always there`)
  t.equal(s.anomalies['kind-000'], 0)
  t.notOk('kind-073' in s.anomalies)
})

t.test('snapshot: labels missing are read as empty', async (t) => {
  const s = snapshot([metric('x_handshakes_total', [{ value: 1, labels: {} }])], 'x_', 0, false)
  t.same(s.handshakes.byCode, [{ outcome: '', code: '', count: 1 }])
})

t.test('snapshot: buckets sorted by bound whatever order they come in', async (t) => {
  const d = 'x_session_duration_seconds'
  const bucket = (le: number | string, value: number): MetricJson['values'][number] => ({ value, metricName: `${d}_bucket`, labels: { le } })
  const s = snapshot([metric(d, [bucket('+Inf', 3), bucket(60, 2), bucket(1, 1), bucket(10, 1), bucket('+Inf', 1)])], 'x_', 0, false)
  t.same(s.sessionDurations.buckets, [{ le: 1, count: 1 }, { le: 10, count: 1 }, { le: 60, count: 2 }, { le: '+Inf', count: 4 }])
  t.equal(s.sessionDurations.count, 0, 'no _count sample: 0')
})
