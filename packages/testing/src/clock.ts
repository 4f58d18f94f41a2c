/** A clock the test moves by hand. */
export class FakeClock {
  #now: number

  constructor (now: number = Date.now()) {
    this.#now = now
  }

  now (): number {
    return this.#now
  }

  advance (ms: number): void {
    this.#now += ms
  }

  set (ms: number): void {
    this.#now = ms
  }
}
