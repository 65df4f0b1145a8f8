import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { TooManyRequestsError } from '../errors.js';
import { DEFAULT_FAILED_LOGIN_LIMITS, FailedLogins, type FailedLoginLimits } from './failed-logins.js';
import { WatchedFile } from './watched-file.js';

const BCRYPT_RE = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
// Verified against when the user is unknown, so that an unknown user costs what a wrong password
// costs: one hash per cost factor in use, made on first need.
const dummyHashes = new Map<number, string>();
function dummyHash(cost: number): string {
  let hash = dummyHashes.get(cost);
  if (!hash) {
    hash = bcrypt.hashSync('registry-setup unknown user', cost);
    dummyHashes.set(cost, hash);
  }
  return hash;
}

export class HtpasswdError extends Error {}

/** Parses `user:bcrypt-hash` lines; anything but bcrypt is refused, naming the line. */
export function parseHtpasswd(text: string, source = 'htpasswd'): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HtpasswdError(`${source} line ${i + 1}: expected "user:hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT_RE.test(hash)) {
      throw new HtpasswdError(
        `${source} line ${i + 1} (user "${user}"): only bcrypt hashes ($2y$, $2a$, $2b$) are supported; recreate it with \`htpasswd -B\``,
      );
    }
    users.set(user, hash);
  });
  return users;
}

function cacheKey(user: string, password: string): string {
  return createHash('sha256').update(user).update('\0').update(password).digest('hex');
}

export interface HtpasswdAuthOptions {
  /** How often the file is checked for changes. */
  pollMs?: number;
  onReload?: (users: number) => void;
  /** the file cannot be used; called once per version of the file, not at every poll */
  onError?: (err: Error) => void;
  /** the file is gone: nobody gets in until it is back (called once until it is) */
  onMissing?: () => void;
  /** A name starts to wait after a failed check; never given the password. */
  onThrottle?: (user: string, waitMs: number) => void;
  failedLoginLimits?: FailedLoginLimits;
  /** the clock of the failed-login limits (tests) */
  now?: () => number;
}

/**
 * htpasswd users that follow the file (see WatchedFile): it is re-read when its identity or mtime
 * changes, so an atomic replace (rename over it) takes effect without a restart. Successful checks
 * are cached by a hash of user and password; the cache is dropped on every reload. Repeated
 * failures make a name wait before its next bcrypt comparison (see FailedLogins).
 */
export class HtpasswdAuth {
  private verified = new Set<string>();
  /** the users the cache was filled for: a reload replaces the map, and with it the cache */
  private verifiedFor: Map<string, string> | undefined;
  private readonly failures: FailedLogins;

  private constructor(
    private readonly file: WatchedFile<Map<string, string>>,
    private readonly options: HtpasswdAuthOptions,
  ) {
    this.failures = new FailedLogins(options.failedLoginLimits ?? DEFAULT_FAILED_LOGIN_LIMITS, options.now);
  }

  get path(): string {
    return this.file.path;
  }

  /** Loads the file once (errors here are fatal at start-up) and starts watching it. */
  static async open(path: string, options: HtpasswdAuthOptions = {}): Promise<HtpasswdAuth> {
    let file: WatchedFile<Map<string, string>>;
    try {
      file = await WatchedFile.open(path, (text) => parseHtpasswd(text, path), new Map<string, string>(), {
        pollMs: options.pollMs,
        onReload: (users) => options.onReload?.(users.size),
        onError: (err) => options.onError?.(err),
        // Deleting the file locks everyone out until it is back (fail closed); an atomic replace
        // never leaves the name missing.
        onMissing: () => options.onMissing?.(),
        describeReadError: (code) => new HtpasswdError(`cannot read htpasswd file ${path}: ${code === 'EISDIR' ? 'it is a directory' : code}`),
      });
    } catch (err) {
      if (err instanceof HtpasswdError) throw err;
      throw new HtpasswdError(`cannot read htpasswd file ${path}: ${(err as Error).message}`);
    }
    return new HtpasswdAuth(file, options);
  }

  private get users(): Map<string, string> {
    const users = this.file.value;
    if (users !== this.verifiedFor) {
      this.verified = new Set();
      this.verifiedFor = users;
    }
    return users;
  }

  get userCount(): number {
    return this.users.size;
  }

  /** One look at the file now (the timer does this every pollMs; tests call it directly). */
  check(): Promise<void> {
    return this.file.check();
  }

  /**
   * Checks a user and password; returns the user name when they match. Throws
   * TooManyRequestsError, without checking, while the name has to wait after failed attempts.
   */
  async verify(user: string, password: string): Promise<string | null> {
    const key = cacheKey(user, password);
    const hash = this.users.get(user);
    if (hash && this.verified.has(key)) return user;
    const waitMs = this.failures.begin(user);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new TooManyRequestsError(`too many failed sign-ins; try again in ${seconds} s`, seconds);
    }
    const generation = this.users;
    const ok = await bcrypt.compare(password, hash ?? dummyHash(this.typicalCost()));
    if (!ok || !hash) {
      const imposed = this.failures.imposedMs(user);
      if (imposed > 0) this.options.onThrottle?.(user, imposed);
      return null;
    }
    this.failures.succeeded(user);
    // A reload during the compare means this answer may be about a file that is gone.
    if (generation !== this.users) return this.verify(user, password);
    this.verified.add(key);
    return user;
  }

  /**
   * Identifies the user's current password entry without revealing it (a hash of the stored
   * bcrypt hash), so that a token issued for it ends when the password changes; null when the
   * user is not in the file.
   */
  credentialOf(user: string): string | null {
    const hash = this.users.get(user);
    return hash ? createHash('sha256').update(hash).digest('base64url').slice(0, 22) : null;
  }

  private typicalCost(): number {
    const first = this.users.values().next();
    return first.done ? 10 : Number(first.value.slice(4, 6));
  }

  close(): void {
    this.file.close();
  }
}

/** Parses an `Authorization: Basic …` header. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
