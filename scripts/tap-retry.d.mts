/** The test files of a failed tap run that hung (killed at the timeout) without printing a failed test, or `undefined` when anything else failed. */
export declare function hungWithoutFailure (output: string): string[] | undefined
