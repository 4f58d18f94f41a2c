/** The demo's people: one click each on the provider's sign-in page, no password. */
export interface DemoUser {
  id: string
  name: string
  tenant: string
  roles: string[]
}

export const USERS: readonly DemoUser[] = [
  { id: 'alice', name: 'Alice', tenant: 'acme', roles: ['trader'] },
  { id: 'bob', name: 'Bob', tenant: 'globex', roles: ['trader'] },
  { id: 'admin', name: 'Admin', tenant: 'acme', roles: ['admin'] }
]

/** The client that starts reconnect storms: a workload of its own (client credentials), not a person. */
export const STORM_CLIENT = { id: 'storm-bot', tenant: 'globex', roles: ['bot'] }

export const userById = (id: string): DemoUser | undefined => USERS.find((u) => u.id === id)

/** The instruments whose prices each tenant sees: topics `prices.<tenant>.<instrument>`. */
export const INSTRUMENTS: Readonly<Record<string, readonly string[]>> = {
  acme: ['widget', 'gadget'],
  globex: ['sprocket', 'gizmo']
}

export const TENANTS = Object.keys(INSTRUMENTS)

/** The API's audience and the scope its tokens carry. */
export const AUDIENCE = 'wsguard-demo-api'
export const SCOPE = 'prices:read'
