import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import bcrypt from 'bcryptjs';
import { TooManyRequestsError } from '../errors.js';
import { DEFAULT_FAILED_LOGIN_LIMITS, FailedLogins, type FailedLoginLimits } from './failed-logins.js';

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
 * htpasswd users that follow the file: it is re-read when its identity or mtime changes, so an
 * atomic replace (rename over it) takes effect without a restart. Successful checks are cached
 * by a hash of user and password; the cache is dropped on every reload. Repeated failures make a
 * name wait before its next bcrypt comparison (see FailedLogins).
 */
export class HtpasswdAuth {
  private users = new Map<string, string>();
  private verified = new Set<string>();
  private signature = '';
  /** the version of the file last refused, so that it is reported once */
  private refused = '';
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly failures: FailedLogins;

  private constructor(
    readonly path: string,
    private readonly options: HtpasswdAuthOptions,
  ) {
    this.failures = new FailedLogins(options.failedLoginLimits ?? DEFAULT_FAILED_LOGIN_LIMITS, options.now);
  }

  /** Loads the file once (errors here are fatal at start-up) and starts watching it. */
  static async open(path: string, options: HtpasswdAuthOptions = {}): Promise<HtpasswdAuth> {
    const auth = new HtpasswdAuth(path, options);
    await auth.reload(true);
    auth.timer = setInterval(() => void auth.check(), options.pollMs ?? 250);
    auth.timer.unref();
    return auth;
  }

  get userCount(): number {
    return this.users.size;
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.reload(false);
    } catch (err) {
      this.options.onError?.(err as Error);
    } finally {
      this.checking = false;
    }
  }

  private async reload(initial: boolean): Promise<void> {
    let stat;
    try {
      stat = await fs.stat(this.path);
    } catch (err) {
      if (initial) throw new HtpasswdError(`cannot read htpasswd file ${this.path}: ${(err as Error).message}`);
      // Deleting the file locks everyone out until it is back (fail closed); an atomic replace
      // never leaves the name missing.
      if (this.signature !== 'missing') {
        this.signature = 'missing';
        this.refused = '';
        this.users = new Map();
        this.verified = new Set();
        this.options.onMissing?.();
      }
      return;
    }
    const signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
    if (signature === this.signature || signature === this.refused) return;
    let users: Map<string, string>;
    try {
      let text: string;
      try {
        text = await fs.readFile(this.path, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new HtpasswdError(`cannot read htpasswd file ${this.path}: ${code === 'EISDIR' ? 'it is a directory' : (code ?? (err as Error).message)}`);
      }
      users = parseHtpasswd(text, this.path);
    } catch (err) {
      if (!initial) this.refused = signature;
      throw err;
    }
    this.refused = '';
    this.users = users;
    this.verified = new Set();
    this.signature = signature;
    if (!initial) this.options.onReload?.(users.size);
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
    const generation = this.verified;
    const ok = await bcrypt.compare(password, hash ?? dummyHash(this.typicalCost()));
    if (!ok || !hash) {
      const imposed = this.failures.imposedMs(user);
      if (imposed > 0) this.options.onThrottle?.(user, imposed);
      return null;
    }
    this.failures.succeeded(user);
    // A reload during the compare means this answer may be about a file that is gone.
    if (generation !== this.verified || this.users.get(user) !== hash) return this.verify(user, password);
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
    if (this.timer) clearInterval(this.timer);
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
