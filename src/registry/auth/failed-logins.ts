export interface FailedLoginLimits {
  /** failures a name may have before it must wait */
  freeFailures: number;
  /** the first wait; each further failure doubles it */
  firstWaitMs: number;
  maxWaitMs: number;
  /** a name's failures are forgotten after this long without a new one */
  forgetAfterMs: number;
  /** failures of all names together: a burst of this many, then this many per second */
  globalBurst: number;
  globalPerSecond: number;
}

export const DEFAULT_FAILED_LOGIN_LIMITS: FailedLoginLimits = {
  freeFailures: 10,
  firstWaitMs: 1_000,
  maxWaitMs: 5 * 60_000,
  forgetAfterMs: 15 * 60_000,
  globalBurst: 30,
  globalPerSecond: 5,
};

/** Names tracked at most; the stalest are dropped first (the name comes from the client). */
const MAX_NAMES = 10_000;
const MAX_NAME_LENGTH = 256;

interface NameState {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
}

/** Names that signed in successfully this long ago or less are not held back by the shared budget. */
const KNOWN_GOOD_MS = 24 * 3600_000;

/**
 * Slows down password guessing. Each name (whether or not such a user exists, so that the answers
 * do not tell which users do) gets a few free failures, then has to wait, twice as long after each
 * further failure. A shared budget of failures bounds the bcrypt work that guesses spread over many
 * names can cause; names that signed in successfully lately are exempt from it, so that guessing
 * at random names does not lock real users out (after a password file reload, say). Only attempts
 * that would need a bcrypt comparison are held back: credentials that already succeeded are
 * answered from the cache and never wait.
 *
 * An attempt counts as a failure from its start (`begin`) until it succeeds (`succeeded`), so
 * guesses sent in parallel cannot all pass the check before the first of them fails.
 */
export class FailedLogins {
  private readonly names = new Map<string, NameState>();
  private readonly goodNames = new Map<string, number>();
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly limits: FailedLoginLimits = DEFAULT_FAILED_LOGIN_LIMITS,
    /** a monotonic clock: a wall clock set back would stretch the waits */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = limits.globalBurst;
    this.refilledAt = now();
  }

  /** Milliseconds before `name` may be tried again; 0 when it may be tried now. */
  waitMs(name: string): number {
    const now = this.now();
    this.refill(now);
    const global = this.tokens >= 1 || this.isKnownGood(name, now) ? 0 : ((1 - this.tokens) / this.limits.globalPerSecond) * 1000;
    const state = this.state(name, now);
    const own = state && state.blockedUntil > now ? state.blockedUntil - now : 0;
    return Math.ceil(Math.max(global, own));
  }

  /**
   * Starts an attempt: the wait in milliseconds when `name` must wait (nothing is recorded), else
   * 0, and the attempt counts as a failure until `succeeded`.
   */
  begin(name: string): number {
    const wait = this.waitMs(name);
    if (wait === 0) this.failed(name);
    return wait;
  }

  /** The wait that the failures so far impose on `name` (0 while they are still free). */
  imposedMs(name: string): number {
    const state = this.state(name, this.now());
    return state ? Math.max(0, state.blockedUntil - state.lastFailure) : 0;
  }

  /** Records a failure; returns the wait it imposes on `name` (0 while failures are still free). */
  failed(name: string): number {
    const now = this.now();
    this.refill(now);
    this.tokens = Math.max(0, this.tokens - 1);
    const key = keyOf(name);
    const state = this.state(name, now) ?? { failures: 0, lastFailure: now, blockedUntil: 0 };
    state.failures++;
    state.lastFailure = now;
    const over = state.failures - this.limits.freeFailures;
    const wait = over < 0 ? 0 : Math.min(this.limits.firstWaitMs * 2 ** Math.min(over, 30), this.limits.maxWaitMs);
    state.blockedUntil = now + wait;
    this.names.delete(key); // re-inserted last: the map's order is staleness
    this.names.set(key, state);
    if (this.names.size > MAX_NAMES) this.names.delete(this.names.keys().next().value!);
    return wait;
  }

  /** Ends an attempt that `begin` counted as a failure: the name's count and the budget are restored. */
  succeeded(name: string): void {
    const key = keyOf(name);
    if (this.names.delete(key)) this.tokens = Math.min(this.limits.globalBurst, this.tokens + 1);
    this.goodNames.delete(key);
    this.goodNames.set(key, this.now());
    if (this.goodNames.size > MAX_NAMES) this.goodNames.delete(this.goodNames.keys().next().value!);
  }

  private isKnownGood(name: string, now: number): boolean {
    const at = this.goodNames.get(keyOf(name));
    return at !== undefined && now - at <= KNOWN_GOOD_MS;
  }

  private state(name: string, now: number): NameState | undefined {
    const key = keyOf(name);
    const state = this.names.get(key);
    if (state && now - state.lastFailure > this.limits.forgetAfterMs) {
      this.names.delete(key);
      return undefined;
    }
    return state;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.refilledAt) / 1000;
    this.tokens = Math.min(this.limits.globalBurst, this.tokens + elapsed * this.limits.globalPerSecond);
    this.refilledAt = now;
  }
}

function keyOf(name: string): string {
  return name.length > MAX_NAME_LENGTH ? name.slice(0, MAX_NAME_LENGTH) : name;
}
