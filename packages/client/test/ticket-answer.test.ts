// The ticket answer's body is read no further than 16 KiB and no later than the step lasts.
// Before, response.json() read all of it, and an abort reached the body only through the
// fetch: Node 20's tells the body through a WeakRef (nodejs/node#55428), and an app's fetch
// may ignore the signal, so a slow or endless answer went on being read after credential-failed.
import t, { type Test } from 'tap'
import { until } from '@wsguard/testing'
import { CredentialError } from '../src/index.js'
import { harness, type Harness } from './helpers.js'

const CAP = 16_384
const encoder = new TextEncoder()

interface Body {
  stream: ReadableStream<Uint8Array>
  /** chunks handed to the reader so far */
  pulled: number
  /** the stream's cancel() was called */
  cancelled: boolean
}

/**
 * A body that hands out `pieces`, one per pull, then ends; or, `endless`, goes on with a
 * space per event-loop turn (a server that drips) until the test ends.
 */
function body (t: Test, pieces: Array<string | Uint8Array>, endless = false): Body {
  let ended = false
  t.teardown(() => { ended = true })
  const b: Body = {
    pulled: 0,
    cancelled: false,
    stream: new ReadableStream<Uint8Array>({
      async pull (controller) {
        const piece = pieces[b.pulled]
        if (piece === undefined && (!endless || ended)) return controller.close()
        if (piece === undefined) await new Promise((resolve) => setImmediate(resolve))
        b.pulled++
        controller.enqueue(typeof piece === 'string' ? encoder.encode(piece) : piece ?? encoder.encode(' '))
      },
      cancel () { b.cancelled = true }
    })
  }
  return b
}

/** The attempt's outcome: a credential-failed or a socket. */
const settled = (h: Harness) => () => h.of('credential-failed').length + h.sockets.length > 0

/** An answer of `size` bytes that would be a good ticket, were it not so large. */
function largeAnswer (size: number): string {
  const frame = JSON.stringify({ ticket: '' })
  return JSON.stringify({ ticket: 'T'.repeat(size - frame.length) })
}

t.test('an answer larger than 16 KiB, as its content-length says: a CredentialError, the body cancelled', async (t) => {
  const answer = largeAnswer(CAP + 1)
  const b = body(t, [answer])
  const h = harness(t, {
    ticketUrl: 'https://api.test/ws-tickets',
    fetch: async () => new Response(b.stream, { status: 200, headers: { 'content-length': String(answer.length) } })
  })
  await until(settled(h), 'the attempt settled')
  await until(() => b.cancelled, 'the body cancelled')
  t.equal(h.sockets.length, 0, 'no socket with the ticket')
  const error = h.of('credential-failed')[0]?.error
  t.type(error, CredentialError)
  t.match(error, { message: 'the ticket answer is larger than 16 KiB', status: undefined })
  t.notMatch(String((error as Error | undefined)?.message), /TTT|token-1|api\.test/, 'no ticket, token or URL in the message')
  t.equal(b.cancelled, true, 'the body was cancelled')
  t.equal(h.client.state, 'waiting', 'backed off as after any credential failure')
})

t.test('an answer larger than 16 KiB without a content-length: read to the cap, then a CredentialError and the body cancelled', async (t) => {
  const answer = largeAnswer(4 * CAP)
  const pieces = answer.match(/.{1,1024}/g) ?? []
  const b = body(t, pieces)
  const h = harness(t, { ticketUrl: 'https://api.test/ws-tickets', fetch: async () => new Response(b.stream, { status: 200 }) })
  await until(settled(h), 'the attempt settled')
  await until(() => b.cancelled, 'the body cancelled')
  t.equal(h.sockets.length, 0, 'no socket with the ticket')
  t.match(h.of('credential-failed'), [{ error: { name: 'CredentialError', message: 'the ticket answer is larger than 16 KiB' } }])
  t.equal(b.cancelled, true, 'the body was cancelled')
  t.ok(b.pulled <= CAP / 1024 + 2, `no more read than the cap and a chunk or two the stream queues (${b.pulled} of ${pieces.length} KiB)`)
})

t.test('an answer of exactly 16 KiB, in chunks that split a character, is a ticket', async (t) => {
  const answer = encoder.encode(JSON.stringify({ ticket: 'T1', note: 'ü'.padEnd(CAP - 26, '.') }))
  t.equal(answer.length, CAP)
  const split = answer.indexOf(0xbc) // the second byte of ü
  const b = body(t, [answer.subarray(0, split), answer.subarray(split)])
  const h = harness(t, {
    ticketUrl: 'https://api.test/ws-tickets',
    fetch: async () => new Response(b.stream, { status: 200, headers: { 'content-length': String(CAP) } })
  })
  const socket = await h.socket(1)
  t.same(socket.protocols, ['feed.v1', 'ticket.T1'])
  t.equal(b.cancelled, false, 'read to its end, not cancelled')
})

t.test('an answer that is not ok: its body is cancelled, not left to the connection', async (t) => {
  const b = body(t, ['<html>'], true)
  const h = harness(t, { ticketUrl: 'https://api.test/ws-tickets', fetch: async () => new Response(b.stream, { status: 503 }) })
  await until(settled(h), 'the attempt settled')
  await until(() => b.cancelled, 'the body cancelled')
  t.match(h.of('credential-failed'), [{ error: { name: 'CredentialError', message: 'the ticket request was answered 503', status: 503 } }])
  t.equal(b.cancelled, true, 'the body was cancelled')
})

t.test('a fetch that ignores the signal and an answer that drips for ever: credential-failed at credentialTimeoutMs, and the body cancelled', async (t) => {
  const b = body(t, ['{"ticket":'], true)
  const signals: AbortSignal[] = []
  const h = harness(t, {
    ticketUrl: 'https://api.test/ws-tickets',
    credentialTimeoutMs: 2_000,
    fetch: async (_url: string | URL | Request, init?: RequestInit) => {
      signals.push(init?.signal as AbortSignal)
      return new Response(b.stream, { status: 200 })
    }
  })
  await until(() => b.pulled >= 5, 'five chunks read')
  t.ok(b.pulled >= 5, 'the body is being read')
  h.clock.advance(1_999)
  await until(() => b.pulled >= 10, 'ten chunks read')
  t.same(h.of('credential-failed'), [], 'not before the timeout')
  h.clock.advance(1)
  await until(() => h.of('credential-failed').length > 0 && b.cancelled, 'credential-failed and the body cancelled')
  t.match(h.of('credential-failed'), [{ error: { name: 'CredentialError', message: 'no credential within 2000 ms' } }])
  t.equal(signals[0]?.aborted, true, 'the signal was aborted (and the fetch did not listen)')
  t.equal(b.cancelled, true, 'the body was cancelled')
  t.equal(h.client.state, 'waiting')
})

t.test('a fetch that ignores the signal and answers after the timeout: the late body is cancelled at once', async (t) => {
  const b = body(t, [], true)
  let answer: (response: Response) => void = () => {}
  const h = harness(t, {
    ticketUrl: 'https://api.test/ws-tickets',
    credentialTimeoutMs: 2_000,
    fetch: async () => await new Promise<Response>((resolve) => { answer = resolve })
  })
  await until(() => h.tokenCalls.length > 0, 'the token asked for')
  h.clock.advance(2_000)
  await until(() => h.of('credential-failed').length > 0, 'credential-failed')
  t.equal(h.of('credential-failed').length, 1)
  answer(new Response(b.stream, { status: 200 }))
  await until(() => b.cancelled, 'the body cancelled')
  t.equal(b.cancelled, true, 'the body was cancelled')
})

t.test('close() while the answer is being read: its body is cancelled', async (t) => {
  const b = body(t, [], true)
  const h = harness(t, { ticketUrl: 'https://api.test/ws-tickets', fetch: async () => new Response(b.stream, { status: 200 }) })
  await until(() => b.pulled >= 3, 'three chunks read')
  h.client.close()
  await until(() => b.cancelled, 'the body cancelled')
  t.equal(b.cancelled, true, 'the body was cancelled')
  t.equal(h.client.state, 'stopped')
})
