import { invalidOption, type Principal } from '@wsguard/core'
import { compilePath, integerText } from './paths.js'
import { SEGMENT } from './topic.js'

/** A route's `config.handshakeTopic`: checked before the upgrade; denied is 403 `WSG_TOPIC_DENIED`. */
export interface HandshakeTopic {
  action: string
  /**
   * a topic whose segments may be whole placeholders: `{params.<name>}` (a route
   * parameter) or a principal path (`{id}`, `{claims.tenant}`)
   */
  topic: string
}

export interface CompiledHandshakeTopic {
  readonly action: string
  readonly template: string
  /** the segments, or `undefined` when a placeholder's value is not a single well-formed segment */
  resolve(params: unknown, principal: Principal | null): string[] | undefined
}

type SegmentSource = (params: Record<string, unknown>, principal: Principal | null) => unknown

const PLACEHOLDER = /^\{(.+)\}$/
const KEYS = new Set(['action', 'topic'])

/** Route parameter names of a Fastify path (`/ws/:tenant/:room(^\\d+)` → tenant, room). */
export function routeParams (url: string): Set<string> {
  return new Set([...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] as string))
}

/** Splits a template on the dots outside braces: `orders.{params.tenant}.all` has three segments. */
function splitTemplate (topic: string): string[] {
  const parts: string[] = []
  let start = 0
  let inside = false
  for (let i = 0; i < topic.length; i++) {
    const c = topic[i]
    if (c === '{') inside = true
    else if (c === '}') inside = false
    else if (c === '.' && !inside) {
      parts.push(topic.slice(start, i))
      start = i + 1
    }
  }
  parts.push(topic.slice(start))
  return parts
}

function compileOne (value: unknown, path: string, params: ReadonlySet<string>, actions: ReadonlySet<string>, maxSegments: number): CompiledHandshakeTopic {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(`${path} must be an object { action, topic }`)
  for (const key of Object.keys(value)) {
    if (!KEYS.has(key)) throw invalidOption(`${path}.${key} is not an option`)
  }
  const { action, topic } = value as Record<string, unknown>
  if (typeof action !== 'string' || !actions.has(action)) {
    throw invalidOption(`${path}.action must be one of the plugin's actions (${[...actions].join(', ')})`)
  }
  if (typeof topic !== 'string' || topic.length === 0) throw invalidOption(`${path}.topic must be a non-empty string`)
  const parts = splitTemplate(topic)
  if (parts.length > maxSegments) throw invalidOption(`${path}.topic has more than ${maxSegments} segments (maxSegments)`)
  const sources: Array<string | SegmentSource> = parts.map((part) => {
    const inner = PLACEHOLDER.exec(part)?.[1]
    if (inner === undefined) {
      if (!SEGMENT.test(part)) throw invalidOption(`${path}.topic has an invalid segment '${part}'`)
      return part
    }
    if (inner.startsWith('params.')) {
      const name = inner.slice('params.'.length)
      if (!params.has(name)) throw invalidOption(`${path}.topic names '${inner}', which is not a parameter of the route`)
      // The name is one of the route's parameters, so the router always sets it.
      return (p) => p[name]
    }
    const get = compilePath(inner)
    if (get === undefined) {
      throw invalidOption(`${path}.topic placeholder '{${inner}}' must be params.<name> or a principal path (id, claims.<name>, …)`)
    }
    return (_p, principal) => (principal === null ? undefined : get(principal))
  })
  return Object.freeze({
    action,
    template: topic,
    resolve (params: unknown, principal: Principal | null): string[] | undefined {
      // Sized once: a socket admitted to this topic keeps its segments (see admit in
      // plugin.ts), and an array grown by push keeps room for 17 entries.
      const segments = new Array<string>(sources.length)
      for (let k = 0; k < sources.length; k++) {
        const source = sources[k] as string | SegmentSource
        if (typeof source === 'string') {
          segments[k] = source
          continue
        }
        const v = source(params as Record<string, unknown>, principal)
        const text = typeof v === 'number' ? integerText(v) : v
        // A value is one segment or nothing: 'a.b' must not become two segments.
        if (typeof text !== 'string' || !SEGMENT.test(text)) return undefined
        segments[k] = text
      }
      return segments
    }
  })
}

/** Validates and compiles a route's `config.handshakeTopic` (one or an array). */
export function compileHandshakeTopics (value: unknown, path: string, url: string, actions: ReadonlySet<string>, maxSegments: number): CompiledHandshakeTopic[] {
  const params = routeParams(url)
  if (Array.isArray(value)) {
    if (value.length === 0) throw invalidOption(`${path} must not be an empty array`)
    return value.map((v, i) => compileOne(v, `${path}[${i}]`, params, actions, maxSegments))
  }
  return [compileOne(value, path, params, actions, maxSegments)]
}
