// Found by session 22's second review, around the first fixes of Z1 and Z2: close() on the
// 'connecting' event, or while getToken() was pending, still let the ticket request go out
// with a fresh bearer token; a timed-out attempt whose getToken() answered late still asked for
// a ticket, and no ticket request could be aborted; a refresh's timer stayed armed after
// close(). Each credential step now has an AbortController, aborted at the timeout and by close().
import t from 'tap'
import type { Connection } from '../src/index.js'
import { harness } from './helpers.js'

const flush = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

t.test('close() inside onEvent(\'connecting\'): no getToken(), no ticket request', async (t) => {
  const app: { conn?: Connection } = {}
  const fetches: Array<{ url: string, auth: string | undefined }> = []
  let closeOnConnecting = false
  const h = harness(t, {
    ticketUrl: 'https://api.test/ws-tickets',
    fetch: async (url: string | URL | Request, init?: RequestInit) => {
      fetches.push({ url: String(url), auth: (init?.headers as Record<string, string>)?.authorization })
      return new Response(JSON.stringify({ ticket: `tk${fetches.length}` }), { status: 201 })
    },
    onEvent: (e) => { if (e.type === 'connecting' && closeOnConnecting) app.conn?.close() }
  })
  app.conn = h.client
  const first = await h.socket(1)
  first.accept()
  closeOnConnecting = true // "the user signed out": stop before the next attempt
  first.drop(1006)
  h.clock.advance(60_000) // the retry's dial emits 'connecting'; the app calls close()
  await flush(); await flush()
  t.equal(h.client.state, 'stopped')
  t.comment(`getToken calls: ${JSON.stringify(h.tokenCalls)}; ticket requests: ${JSON.stringify(fetches)}`)
  t.same(h.tokenCalls, ['connect'], 'no getToken() after close()')
  t.equal(fetches.length, 1, 'no ticket request after close()')
})

t.test('close() while getToken() is pending: no ticket request after it', async (t) => {
  let release: (token: string) => void = () => {}
  const fetches: Array<string | undefined> = []
  const h = harness(t, {
    ticketUrl: 'https://api.test/ws-tickets',
    getToken: async () => await new Promise<string>((resolve) => { release = resolve }),
    fetch: async (_url: string | URL | Request, init?: RequestInit) => {
      fetches.push((init?.headers as Record<string, string>)?.authorization)
      return new Response(JSON.stringify({ ticket: 'tk' }), { status: 201 })
    }
  })
  await flush()
  h.client.close()
  t.equal(h.client.state, 'stopped')
  release('late-token')
  await flush(); await flush()
  t.comment(`ticket requests after close(): ${JSON.stringify(fetches)}`)
  t.same(fetches, [], 'no ticket request after close()')
})

t.test('a timed-out attempt makes no ticket request when its getToken() answers late; the live one\'s request is aborted at its timeout', async (t) => {
  const releases: Array<(token: string) => void> = []
  const signals: AbortSignal[] = []
  const h = harness(t, {
    ticketUrl: 'https://api.test/ws-tickets',
    credentialTimeoutMs: 1_000,
    baseDelayMs: 100,
    maxDelayMs: 100,
    getToken: async () => await new Promise<string>((resolve) => { releases.push(resolve) }),
    fetch: async (_url: string | URL | Request, init?: RequestInit) => {
      signals.push(init?.signal as AbortSignal)
      return await new Promise<Response>(() => {}) // an endpoint that accepts and never answers
    }
  })
  await flush()
  // Five attempts time out; each is followed by the next (within maxDelayMs), which stays live.
  for (let i = 0; i < 5; i++) { h.clock.advance(1_000); await flush(); h.clock.advance(100); await flush() }
  t.equal(h.of('credential-failed').length, 5, 'each attempt timed out')
  t.equal(releases.length, 6, 'and the sixth is under way')
  for (const r of releases) r('tok') // the IdP answers late, all at once
  await flush(); await flush()
  t.equal(signals.length, 1, 'only the live attempt asks for a ticket')
  t.equal(signals[0]?.aborted, false)
  h.clock.advance(1_000)
  await flush()
  t.equal(signals[0]?.aborted, true, 'its request is aborted at its timeout')
  t.equal(h.of('credential-failed').length, 6)
})

t.test('close() while a refresh getToken() is pending: nothing stays armed, nothing is told after stopped', async (t) => {
  const h = harness(t, {
    getToken: async ({ reason }) => reason === 'refresh' ? await new Promise<string>(() => {}) : 'token-1'
  })
  const first = await h.socket(1)
  first.accept()
  first.receive({ type: 'auth.expiring', expiresAt: 2_000_000, deadline: 2_005_000 })
  await flush()
  h.client.close()
  await flush() // the aborted step settles
  t.equal(h.clock.pendingTimers, 0, 'nothing armed after close()')
  t.same(h.events.slice(-1).map((e) => e.type), ['stopped'])
})
