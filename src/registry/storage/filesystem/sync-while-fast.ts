/** A call slower than this waited for the disk, not the page cache. */
const SLOW_CALL_MS = 1;
/** How long calls go through the thread pool after a slow one; doubled while they stay slow. */
const MIN_DEFER_MS = 100;
const MAX_DEFER_MS = 10_000;
/** Synchronous calls in a row (a scan of many links) give other requests a turn after this long. */
const SLICE_MS = 5;

/**
 * Runs small metadata reads (stat, whole-file reads of links and manifests) synchronously while
 * they are fast. An fs.promises call is one or more thread-pool round trips (readFile is four:
 * open, fstat, read, close, plus a FileHandle): --cpu-prof put them at ~45% of the main thread for
 * a manifest GET by tag, which makes three reads, against a few microseconds for the same system
 * calls made directly when the data is in the page cache.
 *
 * A call that turns out slow (cold cache, slow disk) must not become the rule for every request,
 * so for a while calls go through the thread pool, as blob downloads do (send-file.ts). The pause
 * starts short because a slow call is often the thread being descheduled on a busy machine, not
 * the disk, and doubles while the calls that probe again are slow too: a slow disk stalls the event
 * loop at most once per pause.
 */
export class SyncWhileFast {
  private deferUntil = 0;
  private sliceStart = 0;
  private deferMs: number;
  private readonly slowCallMs: number;
  private readonly minDeferMs: number;
  private readonly maxDeferMs: number;

  constructor({ slowCallMs = SLOW_CALL_MS, minDeferMs = MIN_DEFER_MS, maxDeferMs = MAX_DEFER_MS } = {}) {
    this.slowCallMs = slowCallMs;
    this.minDeferMs = minDeferMs;
    this.maxDeferMs = maxDeferMs;
    this.deferMs = minDeferMs;
  }

  async run<T>(sync: () => T, deferred: () => Promise<T>): Promise<T> {
    let t0 = performance.now();
    if (t0 < this.deferUntil) return deferred();
    // Awaiting a call that already finished only yields to other promises, not to I/O: a loop of
    // them would keep the event loop to itself, so after a slice it waits for the next turn.
    if (this.sliceStart !== 0 && t0 - this.sliceStart > SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      t0 = performance.now();
      // a call made during that turn may have been slow
      if (t0 < this.deferUntil) return deferred();
    }
    if (this.sliceStart === 0) {
      this.sliceStart = t0;
      setImmediate(() => (this.sliceStart = 0));
    }
    try {
      return sync();
    } finally {
      const t1 = performance.now();
      if (t1 - t0 >= this.slowCallMs) {
        this.deferUntil = t1 + this.deferMs;
        this.deferMs = Math.min(this.deferMs * 2, this.maxDeferMs);
      } else {
        this.deferMs = this.minDeferMs;
      }
    }
  }

  /** How long calls go through the thread pool from now on (0: they run synchronously). */
  get deferredForMs(): number {
    return Math.max(0, this.deferUntil - performance.now());
  }
}
