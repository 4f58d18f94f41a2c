// The soak's server (bench/soak.ts forks it): one process, so its file descriptors, RSS and
// event-loop delay are its own. All four plugins, a pino logger at info to /dev/null (the
// audit trail is written), one websocket route with a handshake topic and in-band topic
// decisions. Every SAMPLE_MS it reports RSS, heap, event-loop delay and open sockets; on
// 'stop' it closes (every session 1001) and reports what telemetry counted.
import './built.js'
import { readFileSync, writeFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import pino from 'pino'
import { authHandshake } from '@wsguard/auth-handshake'
import { sessionExpiry } from '@wsguard/session-expiry'
import { topicAuthz } from '@wsguard/topic-authz'
import { telemetry } from '@wsguard/telemetry'
import type { jwks } from '@wsguard/testing'
import { startHeapSampling } from './heap-sampling.js'

export const ISS = 'https://idp.soak'
export const AUD = 'soak-api'
export const NOTICE_MS = 20_000
export const GRACE_MS = 5_000

/** What the server sends its parent. */
export type ServerMessage =
  | { type: 'listening', port: number, openFiles: number }
  | { type: 'sample' } & Sample
  | { type: 'stopped', closeMs: number, metrics: MetricSummary, lateMs: number[], lateAt: number[], gcPauses: GcPause[], probes: Record<string, ProbeTimes> }

/** One interval of the server: memory, open sockets, event-loop delay past the timer, GC pauses (ms). */
export interface Sample {
  at: number
  rss: number
  heapUsed: number
  open: number
  delayP50: number
  delayP99: number
  delayMax: number
  gcMaxMs: number
  gcMs: number
}

/** A garbage collection of the server: when it started (ms since the epoch), how long, which kind. */
export interface GcPause { at: number, ms: number, kind: 'minor' | 'major' | 'incremental' | 'weak callbacks' | 'other' }

const GC_KINDS: Record<number, GcPause['kind']> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weak callbacks' }

/**
 * The server's side of one probe handshake (ms since the epoch): its connection accepted, its
 * request read (the first hook), its socket handed to the route's handler.
 */
export interface ProbeTimes { accepted: number, request: number, open: number }

export interface MetricSummary {
  accepted: number
  rejected: Record<string, number>
  closedByCode: Record<string, number>
  refreshes: Record<string, number>
  topicDecisions: Record<string, number>
}

/** The soft limit on open files of this process, from /proc (Linux); 0 when unknown. */
export function openFilesLimit (): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
  return Number(line?.split(/\s+/)[3] ?? 0)
}

interface PromValue { labels: Record<string, string | number>, value: number, metricName?: string }
interface PromMetric { name: string, values: PromValue[] }

/** Sums a metric's values by a key made of their labels (`undefined` leaves a value out). */
function sumBy (metrics: PromMetric[], name: string, label: (l: PromValue['labels']) => string | undefined,
  metricName = name): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of metrics.find((m) => m.name === name)?.values ?? []) {
    if ((v.metricName ?? name) !== metricName) continue
    const key = label(v.labels)
    if (key === undefined) continue
    out[key] = (out[key] ?? 0) + v.value
  }
  return out
}

async function main (): Promise<void> {
  const sampleMs = Number(process.env.SAMPLE_MS)
  const keySet = JSON.parse(process.env.SOAK_JWKS as string) as ReturnType<typeof jwks>
  const late: number[] = []
  const lateAt: number[] = []
  const app = Fastify({ logger: { level: 'info', stream: pino.destination({ dest: '/dev/null', sync: false }) } })
  await app.register(websocket)
  // The probe's handshakes, phase by phase, to tell the server's delays from the clients'.
  const probes: Record<string, ProbeTimes> = {}
  const kAt = Symbol('soak.at')
  const stamp = (): number => performance.timeOrigin + performance.now()
  app.server.on('connection', (socket: object) => { (socket as Record<symbol, number>)[kAt] = stamp() })
  app.addHook('onRequest', (req, _reply, done) => { (req as unknown as Record<symbol, number>)[kAt] = stamp(); done() })
  await app.register(telemetry, {
    anomalies: {
      // Every client is 127.0.0.1: the per-IP limit is far above the load; the per-principal
      // one is the README's example, and throttles (no slot reconnects that often).
      reconnectStorm: {
        perIp: { max: 10_000_000, windowMs: 60_000 },
        perPrincipal: { max: 30, windowMs: 60_000 },
        action: 'throttle'
      },
      failureSpike: { ratio: 5, minPerMinute: 20 }
    }
  })
  await app.register(authHandshake, { jwt: { issuer: ISS, audience: AUD, algorithms: ['ES256'], jwks: keySet }, ...(process.env.SOAK_TOKEN_CACHE !== undefined ? { verifiedTokenCacheSize: Number(process.env.SOAK_TOKEN_CACHE) } : {}) })
  await app.register(sessionExpiry, { noticeMs: NOTICE_MS, graceMs: GRACE_MS, refresh: true })
  await app.register(topicAuthz, {})
  app.get<{ Params: { tenant: string } }>('/feed/:tenant', {
    websocket: true,
    config: {
      auth: { scopes: ['feed:read'] },
      topics: [
        { pattern: 'orders.{tenant}.>', actions: ['subscribe'], scopes: ['feed:read'], where: { tenant: 'claims.tenant' } }
      ],
      handshakeTopic: { action: 'subscribe', topic: 'orders.{params.tenant}.all' }
    }
  }, (socket, req) => {
    const id = req.principal?.id
    if (id?.startsWith('probe-') === true) {
      probes[id] = { accepted: (req.raw.socket as unknown as Record<symbol, number>)[kAt] as number, request: (req as unknown as Record<symbol, number>)[kAt] as number, open: stamp() }
    }
    // Instrumentation: when session-expiry sends close 4401, how late past expiry + grace (the server's
    // share of the lateness the clients see). ws calls close() again on the peer's answer: the first call counts.
    const close = socket.close.bind(socket)
    socket.close = (code?: number, reason?: string | Buffer) => {
      const expiresAt = req.principal?.expiresAt
      if (code === 4401 && expiresAt !== undefined && late.length < 1_000_000) {
        const now = Date.now()
        late.push(now - expiresAt - GRACE_MS)
        lateAt.push(now)
      }
      socket.close = close
      close(code, reason)
    }
    socket.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { type?: string, topic?: string }
      if (msg.type !== 'subscribe' || typeof msg.topic !== 'string') return
      const d = req.authorizeTopic('subscribe', msg.topic)
      if (d.allow) req.wsSession.trackTopic(msg.topic, 'subscribe')
      const answer = d.allow ? { type: 'subscribed', topic: msg.topic } : { type: 'denied', topic: msg.topic, reason: d.reason }
      socket.send(JSON.stringify(answer))
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })

  // The histogram records each whole interval of its 10 ms timer: what is past the 10 ms is the delay.
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const ms = (ns: number): number => Math.max(0, Math.round(ns / 1e4 - 1000) / 100)
  // Garbage collection in the interval: the longest pause and the total, to tell a GC stall from the others.
  const gc = { max: 0, total: 0 }
  // Every pause, with its time, for the report to set beside the probe's slow handshakes (bounded).
  const gcPauses: GcPause[] = []
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.max = Math.max(gc.max, e.duration)
      gc.total += e.duration
      const kind = GC_KINDS[((e as { detail?: { kind?: number } }).detail)?.kind ?? 0] ?? 'other'
      if (gcPauses.length < 1_000_000) gcPauses.push({ at: performance.timeOrigin + e.startTime, ms: e.duration, kind })
    }
  }).observe({ entryTypes: ['gc'] })
  const sampler = setInterval(() => {
    const mem = process.memoryUsage()
    send({
      type: 'sample',
      at: Date.now(),
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      open: app.websocketServer.clients.size,
      delayP50: ms(delay.percentile(50)),
      delayP99: ms(delay.percentile(99)),
      delayMax: ms(delay.max),
      gcMaxMs: Math.round(gc.max),
      gcMs: Math.round(gc.total)
    })
    delay.reset()
    gc.max = 0
    gc.total = 0
  }, sampleMs)

  const heapProfile = sampleHeap()

  process.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return
    clearInterval(sampler)
    heapProfile()
    const started = Date.now()
    app.close().then(async () => {
      const closeMs = Date.now() - started
      const registry = app.wsguardTelemetry.registry as { getMetricsAsJSON: () => Promise<PromMetric[]> }
      const metrics = await registry.getMetricsAsJSON()
      const handshakes = (outcome: string): Record<string, number> =>
        sumBy(metrics, 'wsguard_handshakes_total', (l) => l.outcome === outcome ? String(l.code) : undefined)
      send({
        type: 'stopped',
        closeMs,
        lateMs: late,
        lateAt,
        gcPauses,
        probes,
        metrics: {
          accepted: Object.values(handshakes('accepted')).reduce((a, b) => a + b, 0),
          rejected: handshakes('rejected'),
          closedByCode: sumBy(metrics, 'wsguard_session_duration_seconds', (l) => String(l.code),
            'wsguard_session_duration_seconds_count'),
          refreshes: sumBy(metrics, 'wsguard_refreshes_total', (l) => `${String(l.outcome)} ${String(l.code)}`),
          topicDecisions: sumBy(metrics, 'wsguard_topic_decisions_total', (l) => `${l.outcome} ${l.reason}`)
        }
      }, () => { process.disconnect() }) // once the answer is written: disconnecting at once could lose it
    }, (err: unknown) => { console.error('soak server: close failed', err); process.exit(1) })
  })
  send({ type: 'listening', port: (app.server.address() as AddressInfo).port, openFiles: openFilesLimit() })
}

/**
 * HEAP_PROFILE=<file>: from HEAP_PROFILE_FROM_S seconds after listening (100) to the stop, V8's
 * sampling heap profiler runs (one sample per 4 KiB), keeping collected objects unless
 * HEAP_PROFILE_LIVE=1 (only what is alive at the stop) or HEAP_PROFILE_LIVE=promoted (also what
 * outlived the young generation and a major GC collected since: what scavenges copy); the file gets the bytes per second and the functions that allocated most,
 * and `<file>.heapprofile` the profile itself (Chrome DevTools opens it).
 * For finding what the steady state allocates; it slows the server, so not for the aims.
 */
function sampleHeap (): () => void {
  const file = process.env.HEAP_PROFILE
  if (file === undefined || file === '') return () => {}
  const live = process.env.HEAP_PROFILE_LIVE === '1'
  const promoted = process.env.HEAP_PROFILE_LIVE === 'promoted'
  let started = 0
  let sampling: Awaited<ReturnType<typeof startHeapSampling>> | undefined
  setTimeout(() => {
    startHeapSampling(4096, promoted ? 'major' : !live, 60).then((s) => { sampling = s; started = Date.now() }, (err: unknown) => { console.error(err) })
  }, Number(process.env.HEAP_PROFILE_FROM_S ?? 100) * 1000).unref()
  return () => {
    if (sampling === undefined) return
    const seconds = (Date.now() - started) / 1000
    sampling.stop().then((r) => {
      const lines = [`${live ? 'live at the stop' : promoted ? 'outlived the young generation' : 'allocated'}: ${Math.round(r.bytes / 1024)} KiB over ${seconds.toFixed(1)} s = ${Math.round(r.bytes / seconds / 1024)} KiB/s`]
      for (const [site, b] of r.top) lines.push(`${Math.round(b / seconds / 1024)} KiB/s  ${site}`)
      writeFileSync(file, lines.join('\n') + '\n')
      writeFileSync(`${file}.heapprofile`, JSON.stringify(r.profile))
    }, (err: unknown) => { console.error(err) })
  }
}

function send (m: ServerMessage, sent?: () => void): void { process.send?.(m, undefined, undefined, sent) }

if (process.argv[2] === 'serve') await main()
