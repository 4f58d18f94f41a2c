// Found by session 22's review: ioredis gives each error Redis answers the command it answered
// (`err.command.args`), a refused `HELLO 3 AUTH user password` too, and rejects the stores'
// queued commands with that same error; the "Redis unavailable" line logged it as `{ err }`,
// so pino wrote the password in clear (a password rotation, an ACL change, a mistyped user).
import { Writable } from 'node:stream'
import { randomUUID } from 'node:crypto'
import t from 'tap'
import Fastify from 'fastify'
import { redisStores } from '../src/index.js'
import { plainError } from '../src/redis.js'
import { testPrefix } from './helpers.js'

t.test('a password refused by Redis reaches neither the log nor the unavailable event', async (t) => {
  const secret = `S3CRET-${randomUUID()}`
  const lines: string[] = []
  let warned: () => void = () => {}
  const logged = new Promise<void>((resolve) => { warned = resolve })
  const stream = new Writable({
    write (chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString())
      if (chunk.toString().includes('Redis unavailable')) warned()
      cb()
    }
  })
  const app = Fastify({ logger: { level: 'trace', stream } })
  t.teardown(() => app.close())
  // A user this Redis does not have: HELLO's AUTH is refused (WRONGPASS), the server unchanged.
  const stores = redisStores({ url: `redis://nobody:${secret}@127.0.0.1:6379` }, { keyPrefix: testPrefix(), logger: app.log, commandTimeoutMs: 1_000 })
  t.teardown(() => stores.close())
  const told = new Promise<{ error?: Error }>((resolve) => { stores.events.once('unavailable', resolve) })
  const [event] = await Promise.all([told, logged])
  t.match(lines.join(''), /WRONGPASS/, 'the cause is logged')
  t.notOk(lines.join('').includes(secret), 'the password is not')
  t.match(event.error?.message, /WRONGPASS/)
  t.same(Object.keys(event.error as Error), [], 'the error handed to listeners carries nothing of the command')
})

t.test('plainError keeps the name, message and stack only', async (t) => {
  const err = Object.assign(new TypeError('refused'), { command: { name: 'hello', args: ['3', 'AUTH', 'u', 'p'] } })
  const plain = plainError(err)
  t.equal(plain.name, 'TypeError')
  t.equal(plain.message, 'refused')
  t.equal(plain.stack, err.stack)
  t.same(Object.keys(plain), [])
  t.equal(plainError('a string').message, 'a string', 'a rejection that is no Error becomes one')
})
