import { randomFillSync } from 'node:crypto'

// Random bytes are drawn 4 KiB at a time, as Node's own randomUUID() does.
const POOL = Buffer.alloc(4096)
let offset = POOL.length
// The UUID's text is written into this scratch buffer and read out as one string.
const TEXT = Buffer.alloc(36)
const HEX = Buffer.from('0123456789abcdef')
// Positions of the 16 bytes' two hex digits in the 8-4-4-4-12 text.
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
TEXT[8] = TEXT[13] = TEXT[18] = TEXT[23] = 0x2d // '-'

/**
 * A random (version 4) UUID, as `crypto.randomUUID()` gives, held as one flat string.
 * `randomUUID()` builds its text by concatenation, which V8 keeps as a tree of about twenty
 * string pieces (some 600 bytes) for as long as the id lives; an id kept for a connection's
 * lifetime costs that much per connection. This one is 36 bytes of text in one string.
 */
export function randomId (): string {
  if (offset + 16 > POOL.length) {
    randomFillSync(POOL)
    offset = 0
  }
  for (let i = 0; i < 16; i++) {
    let byte = POOL[offset + i] as number
    if (i === 6) byte = (byte & 0x0f) | 0x40 // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80 // variant 10
    const at = AT[i] as number
    TEXT[at] = HEX[byte >> 4] as number
    TEXT[at + 1] = HEX[byte & 0x0f] as number
  }
  offset += 16
  return TEXT.toString('latin1', 0, 36)
}
