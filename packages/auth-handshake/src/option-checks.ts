import { invalidOption } from '@wsguard/core'
import { hasUserinfo, isFetchableUrl } from './urls.js'

// The checks every option validator here shares; each error names the option path.

export function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function nonEmptyString (value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidOption(`${path} must be a non-empty string`)
  return value
}

export function duration (value: unknown, path: string, fallback: number): number
export function duration (value: unknown, path: string, fallback: undefined): number | undefined
export function duration (value: unknown, path: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalidOption(`${path} must be a finite number of milliseconds, 0 or more`)
  }
  return value
}

export function positiveInteger (value: unknown, path: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalidOption(`${path} must be an integer, ${min} or more`)
  }
  return value
}

export function bool (value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalidOption(`${path} must be a boolean`)
  return value
}

export function unknownKeys (value: Record<string, unknown>, known: Set<string>, path: string): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw invalidOption(`${path}.${key} is not an option`)
  }
}

/**
 * No `user:password@` in a URL (an issuer is logged with every key-set failure): fetch
 * refuses such URLs, and the error it throws quotes it whole. A value that is no URL passes.
 */
export function noUserinfo (text: string, path: string): void {
  if (!URL.canParse(text)) return
  if (hasUserinfo(new URL(text))) {
    throw invalidOption(`${path} must not carry a user or password (user:password@): fetch refuses such URLs`)
  }
}

/** `https:` URL, or `http:` on a loopback host (tests, local IdPs). */
export function fetchableUrl (value: unknown, path: string): string {
  const text = nonEmptyString(value, path)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw invalidOption(`${path} must be an absolute URL`)
  }
  noUserinfo(text, path)
  if (!isFetchableUrl(url)) {
    throw invalidOption(`${path} must be an https: URL (http: only on a loopback host)`)
  }
  return text
}

export function stringList (value: unknown, path: string): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v.length > 0)) {
    throw invalidOption(`${path} must be a non-empty string or a non-empty array of non-empty strings`)
  }
  return [...new Set(list as string[])]
}
