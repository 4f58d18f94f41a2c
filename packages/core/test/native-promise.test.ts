import t from 'tap'
import { asNativePromise } from '../src/index.js'

t.test('asNativePromise: values as they are, any thenable as a native promise, a throwing then getter as a rejection', async (t) => {
  const counts = { current: 1 }
  t.equal(asNativePromise(counts), counts, 'an object without then')
  t.equal(asNativePromise(false), false)
  t.equal(asNativePromise(null), null)
  t.equal(asNativePromise(undefined), undefined)
  const native = Promise.resolve(3)
  t.equal(asNativePromise(native), native, 'a native promise as it is')
  const foreign = asNativePromise({ then: (ok: (v: number) => void) => { ok(7) } } as unknown as PromiseLike<number>)
  t.ok(foreign instanceof Promise, 'a thenable becomes a native promise')
  t.equal(await foreign, 7)
  const throwing = asNativePromise(Object.defineProperty({}, 'then', { get () { throw new Error('getter') } }))
  t.ok(throwing instanceof Promise)
  await t.rejects(throwing as Promise<unknown>, { message: 'getter' })
})
