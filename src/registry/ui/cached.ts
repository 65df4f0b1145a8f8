/**
 * A value that may be expensive to compute (a walk over every repository), computed by one caller
 * at a time. Only a slow computation (a big registry) is kept: it is reused for `freshMs`, then
 * served stale for up to `staleMs` while a background refresh runs, so a filter box stays fast.
 * A quick one is recomputed for every caller, so small registries show every change at once.
 */
export class Cached<T> {
  private value: { v: T; at: number; tookMs: number } | undefined;
  private pending: Promise<T> | undefined;
  private generation = 0;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly options: { freshMs: number; staleMs: number; slowMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  async get(): Promise<T> {
    const v = this.value;
    if (v && v.tookMs >= this.options.slowMs) {
      const age = this.now() - v.at;
      if (age < this.options.freshMs) return v.v;
      if (age < this.options.staleMs) {
        this.refresh().catch(() => {}); // the next caller gets it, or the error
        return v.v;
      }
    }
    return this.refresh();
  }

  /** Forgets the value (after a change made through the UI); a computation already running is not reused. */
  invalidate(): void {
    this.generation++;
    this.value = undefined;
    this.pending = undefined;
  }

  private refresh(): Promise<T> {
    if (this.pending) return this.pending;
    const generation = this.generation;
    const started = this.now();
    const pending = this.load().then(
      (v) => {
        if (generation === this.generation) {
          this.value = { v, at: started, tookMs: this.now() - started };
          this.pending = undefined;
        }
        return v;
      },
      (err: unknown) => {
        if (generation === this.generation) this.pending = undefined;
        throw err;
      },
    );
    this.pending = pending;
    return pending;
  }
}
