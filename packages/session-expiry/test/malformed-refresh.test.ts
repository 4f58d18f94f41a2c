import t from 'tap'
import { harness, open, type Client } from './helpers.js'

// A refresh frame cut short (`{"type":"auth.refresh","token":` …) is not JSON, and used to be
// handed to the app's message listeners, with whatever part of the token it carried.

/** Whichever comes first: the socket's close, or the app's echo of the frame. */
async function outcome (c: Client): Promise<unknown> {
  return await Promise.race([c.closed.then((closed) => ({ closed })), c.next().then((echo) => ({ echo }))])
}

const MALFORMED = { closed: { code: 4400, reason: 'malformed control message' } }

t.test('a refresh frame cut short closes 4400 and never reaches the app', async (t) => {
  const { base, token } = await harness(t)
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  const fresh = token('alice', 7200)
  c.send(`{"type":"auth.refresh","token":"${fresh.slice(0, 40)}`)
  t.same(await outcome(c), MALFORMED, 'closed 4400; the app saw nothing of it')
})

t.test('the bare cut-short frame closes 4400 too', async (t) => {
  const { base, token } = await harness(t)
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  c.send('{"type":"auth.refresh","token":')
  t.same(await outcome(c), MALFORMED)
})

t.test('a refresh over maxControlFrameBytes fails closed: 4400, not handed to the app', async (t) => {
  const { base, token } = await harness(t, { session: { maxControlFrameBytes: 1024 } })
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  c.send({ type: 'auth.refresh', token: token('alice', 7200) + 'x'.repeat(2048) })
  t.same(await outcome(c), MALFORMED)
})

t.test('the app\'s own text that mentions the name still reaches the app', async (t) => {
  const { base, token } = await harness(t)
  const c = await open(t, `${base}/feed`, token('alice', 3600))
  for (const frame of ['plain "auth.refresh" text', '{ how do I send "auth.refresh"?', '{"type":"chat","text":"\\"auth.refresh\\""}']) {
    t.equal(await c.ask(frame), `echo:${frame}`, frame)
  }
})
