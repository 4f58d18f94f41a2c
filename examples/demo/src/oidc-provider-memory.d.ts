// oidc-provider's own in-memory adapter. Passing it explicitly (rather than relying on the
// default) keeps the provider from printing its "development-only adapter" warning.
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  export function createMemoryAdapter (clockTolerance: number): new (name: string) => unknown
}
