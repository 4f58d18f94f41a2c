import t from 'tap'
import websocket from '@fastify/websocket'
import { refusedTwice, registerTwice } from '@wsguard/testing'
import { telemetry, type TelemetryOptions } from '../src/index.js'

// Registered twice, the plugin used to fail on its own private decorator:
// FST_ERR_DEC_ALREADY_PRESENT: The decorator 'Symbol(wsguard.telemetryStarted)' has already been added!
const cases: Array<[string, TelemetryOptions]> = [['enabled', { metrics: false }], ['enabled: false', { enabled: false }]]
for (const [name, opts] of cases) {
  t.test(`registered again (${name}), in the same context or a child of it: the error names the plugin and says why`, async (t) => {
    const refused = await registerTwice((app) => app.register(websocket), (c) => c.register(telemetry, opts))
    t.match(refused, refusedTwice('@wsguard/telemetry'))
  })
}
