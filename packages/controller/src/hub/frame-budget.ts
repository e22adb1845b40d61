/**
 * A fixed-window counter: at most `limit` events per `windowMs`. Used per agent connection to cut
 * sockets that flood the controller with frames (a legitimate agent sends a few per second, and at
 * most about a thousand queued revert notices at once after a reconnection).
 */
export class FrameBudget {
  #windowStart = 0;
  #count = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one event; false once the window's limit is exceeded. */
  take(): boolean {
    const now = this.now();
    if (now - this.#windowStart >= this.windowMs) {
      this.#windowStart = now;
      this.#count = 0;
    }
    this.#count += 1;
    return this.#count <= this.limit;
  }
}
