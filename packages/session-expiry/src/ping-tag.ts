import { randomFillSync } from 'node:crypto'

// Each ping carries a random tag, and only a pong that echoes it counts as an answer (or the
// tag of the ping before, if still unanswered: see Session) (RFC 6455 §5.5.3: a pong carries the ping's application data; browsers and `ws` echo
// it). A pong no ping asked for is allowed by the RFC, so without the tag a client that never
// reads could keep the heartbeat satisfied by writing one now and then, while everything the
// app sends it piled up in the server. The tag lies behind all the data sent before it in the
// stream: to echo it, the client must have read that far.

const TAG_BYTES = 6
// One pool of random bytes for many pings: one `randomFillSync` per 1,024 pings.
const pool = Buffer.alloc(TAG_BYTES * 1024)
let offset = pool.length

/** A fresh tag: a random whole number in [1, 2^47], never 0 (0 means no ping awaits its pong). */
export function nextPingTag (): number {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const tag = Math.floor(pool.readUIntBE(offset, TAG_BYTES) / 2) + 1
  offset += TAG_BYTES
  return tag
}

/** The ping's payload for a tag: a buffer of its own (one queued behind a slow reader must not change). */
export function pingPayload (tag: number): Buffer {
  const data = Buffer.allocUnsafe(TAG_BYTES)
  data.writeUIntBE(tag, 0, TAG_BYTES)
  return data
}

/** Whether a pong's payload echoes the tag; never for 0, which no ping carries (it means none). */
export function answers (data: unknown, tag: number): boolean {
  return tag !== 0 && Buffer.isBuffer(data) && data.length === TAG_BYTES && data.readUIntBE(0, TAG_BYTES) === tag
}
