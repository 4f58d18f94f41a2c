/**
 * Resolves once `test()` holds, checking after each turn of the event loop. Bounded in turns
 * and in time: it rejects, naming `what`, after `maxTurns` turns or `timeoutMs`, whichever
 * comes first. For waiting on an event no callback reports (a count reaching a value).
 */
export async function until (
  test: () => boolean | Promise<boolean>, what: string, { maxTurns = 1_000_000, timeoutMs = 5_000 }: { maxTurns?: number, timeoutMs?: number } = {}
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let turn = 0; turn < maxTurns && Date.now() <= deadline; turn++) {
    if (await test()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`never happened: ${what}`)
}
