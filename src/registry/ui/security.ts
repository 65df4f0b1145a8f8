import type { IncomingMessage } from 'node:http';
import type { Headers } from '../http/respond.js';

/**
 * The page's policy: scripts, styles, images and fetches only from this origin, no inline script
 * or style, no plugins, no framing, no <base> tricks, and DOM sinks that take HTML strings
 * (innerHTML and friends) refused outright: the UI builds every node with createElement.
 */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** JSON and assets are never documents. */
export const RESOURCE_CSP = "default-src 'none'; frame-ancestors 'none'";

export function securityHeaders(csp: string): Headers {
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::\d{1,5})?$/;

function firstValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v?.split(',')[0]?.trim() || undefined;
}

/**
 * The host name clients use to reach the registry, for `docker pull` lines: a reverse proxy's
 * X-Forwarded-Host, else the Host header. Anything that does not look like a host[:port] is ignored.
 */
export function publicHost(req: IncomingMessage): string {
  for (const candidate of [firstValue(req.headers['x-forwarded-host']), firstValue(req.headers.host)]) {
    if (candidate && HOST_RE.test(candidate)) return candidate.toLowerCase();
  }
  return 'localhost';
}

/**
 * Changes (sign-in, sign-out, deletes) must come from our own page. The session cookie is
 * SameSite=Strict already; this also covers registries without auth (no cookie at all).
 * Browsers send Sec-Fetch-Site, which page script cannot forge, and which survives any proxy
 * rewriting Host: when present, it alone decides. Without it (older browsers), an Origin must
 * name this host as the client sees it (X-Forwarded-Host or Host). Neither: not a browser.
 */
export function isSameOriginRequest(req: IncomingMessage): boolean {
  const site = firstValue(req.headers['sec-fetch-site']);
  if (site) return site === 'same-origin' || site === 'none';
  const origin = firstValue(req.headers.origin);
  if (origin === undefined) return true;
  let host: string;
  try {
    host = new URL(origin).host.toLowerCase();
  } catch {
    return false; // includes the opaque origin "null"
  }
  const hosts = [firstValue(req.headers['x-forwarded-host']), firstValue(req.headers.host)].filter(Boolean).map((h) => h!.toLowerCase());
  return hosts.includes(host);
}
