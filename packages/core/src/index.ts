import './fastify.js'

export * from './principal.js'
export * from './errors.js'
export * from './rejection.js'
export * from './close-codes.js'
export * from './channels.js'
export * from './clock.js'
export * from './redact.js'
