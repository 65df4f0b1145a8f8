// Errors of the ACME layer. Every message is one line a user can act on; callers print `message`.

export class AcmeError extends Error {
  override name = 'AcmeError';
}

/** One failed (or merely suspicious) preflight check. */
export interface PreflightCheck {
  check: 'dns' | 'http';
  domain: string;
  ok: boolean;
  /** true when the check did not fail but deserves a look (e.g. an AAAA record we could not test) */
  warning?: boolean;
  message: string;
}

/** Preflight found a problem: nothing was ordered (no ACME request was made at all). */
export class PreflightError extends AcmeError {
  override name = 'PreflightError';
  constructor(readonly failures: readonly PreflightCheck[]) {
    super(`preflight failed, no certificate was ordered: ${failures.map((f) => f.message).join('; ')}`);
  }
}

/** The CA answered 429. `retryAfter` is when it says to come back (from Retry-After), if it said. */
export class AcmeRateLimitError extends AcmeError {
  override name = 'AcmeRateLimitError';
  constructor(
    readonly detail: string,
    readonly retryAfter: Date | undefined,
    readonly url: string | undefined,
    /** true when no request was made because an earlier 429's Retry-After has not passed yet */
    readonly remembered = false,
  ) {
    const when = retryAfter ? `retry after ${retryAfter.toISOString()}` : 'no Retry-After given';
    const prefix = remembered ? 'still rate limited by the ACME server (not contacted)' : 'rate limited by the ACME server (HTTP 429)';
    super(`${prefix}: ${detail || 'too many requests'}; ${when}`);
  }
}

/** The ACME server could not be reached (DNS, TCP, TLS) or kept failing with 5xx. */
export class AcmeServerError extends AcmeError {
  override name = 'AcmeServerError';
}

/** The CA could not validate a domain (HTTP-01). Never retried within a run. */
export class AuthorizationFailedError extends AcmeError {
  override name = 'AuthorizationFailedError';
  constructor(
    readonly domain: string,
    readonly detail: string,
  ) {
    super(
      `the CA could not validate ${domain} over HTTP-01: ${detail} ` +
        `(check the A/AAAA records of ${domain}, that port 80 is open and reaches nginx, and that nginx serves the webroot at /.well-known/acme-challenge/)`,
    );
  }
}

/** Another renewal holds the lock. */
export class RenewalLockedError extends AcmeError {
  override name = 'RenewalLockedError';
}

/** One line, for logs and the renew command's final message. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
