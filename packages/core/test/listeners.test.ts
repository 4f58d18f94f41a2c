import t from 'tap'
import { callEach } from '../src/index.js'

t.test('callEach: every listener hears the value in order; an error is thrown again on the next tick, after the others', async (t) => {
  const heard: string[] = []
  const broken = new Error('a listener broke')
  const deferred: Array<() => void> = []
  const ticks = t.capture(process, 'nextTick', (fn: () => void) => { deferred.push(fn) })
  callEach<string>([(v) => heard.push(`a:${v}`), () => { throw broken }, (v) => heard.push(`c:${v}`)], 'x')
  ticks.restore()
  t.same(heard, ['a:x', 'c:x'])
  t.equal(deferred.length, 1)
  t.throws(deferred[0] as () => void, broken)
})
