import t from 'tap'
import { ControlMatcher } from '../src/control.js'

t.test('ControlMatcher reads refresh frames in every binaryType and nothing else', async (t) => {
  const m = new ControlMatcher('auth.refresh', 256)
  const frame = Buffer.from('{"type":"auth.refresh","token":"abc"}')
  t.equal(m.read(frame, false), 'abc', 'Buffer (nodebuffer)')
  t.equal(m.read(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length), false), 'abc', 'ArrayBuffer')
  t.equal(m.read([frame.subarray(0, 10), frame.subarray(10)], false), 'abc', 'fragments')
  t.equal(m.read('{"type":"auth.refresh","token":"abc"}', false), undefined, 'a string is not a frame ws delivers')
  t.equal(m.read([frame, 'x'], false), undefined)
  t.equal(m.read(frame, true), undefined, 'binary')
  t.equal(m.read(Buffer.from('{"type":"auth.refresh"}'), false), null, 'no token')
  t.equal(m.read(Buffer.from('{"type":"auth.refresh","token":["a"]}'), false), null)
  t.equal(m.read(Buffer.from('"auth.refresh"'), false), undefined, 'a JSON string, not an object')
  t.equal(m.read(Buffer.from('null'), false), undefined)
  t.equal(m.read(Buffer.from(`{"type":"auth.refresh","token":"${'x'.repeat(300)}"}`), false), undefined, 'over the size bound')
})
