import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { telemetry, type TelemetryOptions } from '../src/index.js'

// Registered twice, the plugin used to fail on its own private decorator:
// FST_ERR_DEC_ALREADY_PRESENT: The decorator 'Symbol(wsguard.telemetryStarted)' has already been added!
const cases: Array<[string, TelemetryOptions]> = [['enabled', { metrics: false }], ['enabled: false', { enabled: false }]]
for (const [name, opts] of cases) {
  t.test(`registered twice (${name}): the error names the plugin and says why`, async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(websocket)
    await app.register(telemetry, opts)
    await t.rejects(async () => { await app.register(telemetry, opts) }, {
      code: 'WSG_REGISTERED_TWICE',
      message: /^Registered twice: @wsguard\/telemetry is registered in the same encapsulation context\. Register it once/
    })
  })
}

t.test('registered in a child context of one that has it: refused too (the parent\'s hooks reach the child\'s routes)', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(telemetry, { metrics: false })
  await t.rejects(async () => { await app.register(async (child) => { await child.register(telemetry, { metrics: false }) }) }, {
    code: 'WSG_REGISTERED_TWICE',
    message: /@wsguard\/telemetry is registered in this context and in a parent context/
  })
})
