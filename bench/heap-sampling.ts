// V8's sampling heap profiler, through the inspector: what allocated how many bytes, by function.
// allocations.ts samples a handshake with it; the soak's server samples its steady state.
import { Session } from 'node:inspector/promises'

interface ProfileNode { callFrame: { functionName: string, url: string, lineNumber: number }, selfSize: number, children: ProfileNode[] }
/** What a process sampled: the bytes, and the functions that allocated most (bytes each). */
export interface Sampled { bytes: number, top: Array<[string, number]> }

function summarize (head: ProfileNode, top: number): Sampled & { profile: unknown } {
  const bySite = new Map<string, number>()
  let bytes = 0
  // A native frame (a builtin such as `Map` or `join`, no url) is named with the JavaScript
  // function that called it: `Map :0 <- start session.js:91`.
  const walk = (node: ProfileNode, caller: string): void => {
    bytes += node.selfSize
    const { functionName, url, lineNumber } = node.callFrame
    const own = `${functionName === '' ? '(anonymous)' : functionName} ${url.split('/').slice(-3).join('/')}:${lineNumber + 1}`
    const site = url === '' && caller !== '' ? `${own} <- ${caller}` : own
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize)
    for (const child of node.children) walk(child, url === '' ? caller : own)
  }
  walk(head, '')
  return { bytes, top: [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top), profile: { head } }
}

/**
 * Starts sampling (one sample per `interval` bytes on average, each scaled by V8 to an estimate
 * of the bytes). With `collected` true, objects already collected are kept: the garbage too, not
 * only what is still alive when it stops; with 'major', only those a major GC collected: what
 * outlived the young generation (what scavenges copy). `stop` gives the summary and the profile itself.
 */
export async function startHeapSampling (interval: number, collected: boolean | 'major', top: number): Promise<{ stop: () => Promise<Sampled & { profile: unknown }> }> {
  const session = new Session()
  session.connect()
  await session.post('HeapProfiler.startSampling', { samplingInterval: interval, includeObjectsCollectedByMajorGC: collected !== false, includeObjectsCollectedByMinorGC: collected === true } as never)
  return {
    stop: async () => {
      const { profile } = await session.post('HeapProfiler.stopSampling') as unknown as { profile: { head: ProfileNode } }
      session.disconnect()
      return summarize(profile.head, top)
    }
  }
}
