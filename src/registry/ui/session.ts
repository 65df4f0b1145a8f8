import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Server-side sessions for the web UI.
 *
 * The browser only ever holds an opaque random token in an HttpOnly, SameSite=Strict cookie
 * without Max-Age (so it ends with the browser session); the password never reaches page script
 * or browser storage. The map is keyed by a hash of the token, so a heap dump does not hand out
 * usable cookies. The password is kept in memory with the session so that every request is
 * checked against the current htpasswd file (HtpasswdAuth caches a successful check, so this
 * costs one SHA-256): removing a user or changing their password ends their UI sessions at once,
 * exactly like it does for the API. Sessions are lost on restart; users simply sign in again.
 */
export interface Session {
  user: string;
  password: string;
  created: number;
  lastSeen: number;
}

export interface SessionOptions {
  /** A session unused this long is gone. */
  idleMs: number;
  /** A session older than this is gone, however busy. */
  maxAgeMs: number;
  /** Beyond this many sessions the least recently used one is dropped. */
  maxSessions: number;
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  idleMs: 60 * 60_000,
  maxAgeMs: 12 * 3600_000,
  maxSessions: 10_000,
};

export const SESSION_COOKIE = 'registry_ui_session';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export class SessionStore {
  // Map order is insertion order; get() re-inserts, so the first entry is the least recently used.
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly options: SessionOptions = DEFAULT_SESSION_OPTIONS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  create(user: string, password: string): string {
    this.sweep();
    while (this.sessions.size >= this.options.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    const token = randomBytes(32).toString('base64url');
    const t = this.now();
    this.sessions.set(hashToken(token), { user, password, created: t, lastSeen: t });
    return token;
  }

  /** The live session for a token (refreshing its idle timer), or null. */
  get(token: string | undefined): Session | null {
    if (!token) return null;
    const key = hashToken(token);
    const session = this.sessions.get(key);
    if (!session) return null;
    const t = this.now();
    if (this.expired(session, t)) {
      this.sessions.delete(key);
      return null;
    }
    session.lastSeen = t;
    this.sessions.delete(key);
    this.sessions.set(key, session);
    return session;
  }

  delete(token: string | undefined): void {
    if (token) this.sessions.delete(hashToken(token));
  }

  private expired(s: Session, t: number): boolean {
    return t - s.lastSeen >= this.options.idleMs || t - s.created >= this.options.maxAgeMs;
  }

  /**
   * Drops idle sessions from the least recently used end (run on every sign-in); the first one
   * still in use ends the sweep, as all after it were used later. get() catches the rest.
   */
  private sweep(): void {
    const t = this.now();
    for (const [key, s] of this.sessions) {
      if (!this.expired(s, t)) break;
      this.sessions.delete(key);
    }
  }
}

/** The value of one cookie from the request's Cookie header(s). */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** True when the browser reached us over HTTPS, directly or through a TLS-terminating proxy. */
export function isSecureRequest(req: IncomingMessage): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  const proto = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https';
}

/**
 * No Path attribute on purpose: the cookie then defaults to the directory of the sign-in request
 * (`…/ui/api`), which is exactly where it is needed, also when a reverse proxy serves the
 * registry under a prefix. No Max-Age: it is a browser-session cookie.
 */
export function sessionCookie(token: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}
