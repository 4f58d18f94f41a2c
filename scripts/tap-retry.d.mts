/** The test files of a failed tap run that hung before printing anything, or `undefined` when anything else failed. */
export declare function hungAtStart (output: string): string[] | undefined
