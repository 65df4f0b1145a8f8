// How acme-client talks HTTP. acme-client sends every request through one shared axios instance
// (`acme.axios`) whose response interceptor (acme-client 5.4, src/axios.js) retries 429 and 5xx up
// to 5 times, sleeping for the full Retry-After each time (Let's Encrypt can say hours), then turns
// a network error into "TypeError: Cannot read properties of undefined (reading 'config')". We
// replace that interceptor with ours:
// - 429 → AcmeRateLimitError at once, carrying Retry-After (acme-client's own errors carry only the
//   problem detail, not the response);
// - 5xx and transient network errors → at most 2 quick retries (Retry-After honoured up to 10 s);
// - other network/TLS errors → AcmeServerError with a hint (e.g. an untrusted HTTPS certificate).
// It relies on acme-client's request interceptor, which we keep: it moves `validateStatus` to
// `retryValidateStatus` and makes every response reach the response interceptor's error path.
// The instance is process-wide, so these settings are too.
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { setTimeout as delay } from 'node:timers/promises';
import acme from 'acme-client';
import { AcmeRateLimitError, AcmeServerError } from './errors.js';

const MAX_RETRIES = 2;
const MAX_RETRY_DELAY_MS = 10_000;
const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED', 'ERR_SOCKET_CONNECTION_TIMEOUT']);
const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface RequestConfig {
  url?: string;
  method?: string;
  retryValidateStatus?: ((status: number) => boolean) | null;
  /** our retry counter; a property because axios copies the config for every request */
  registrySetupAttempt?: number;
  [key: string]: unknown;
}

interface HttpError {
  config?: RequestConfig;
  response?: { status: number; headers: Record<string, unknown>; data: unknown; config?: RequestConfig };
  code?: string;
  message?: string;
}

/** Seconds or an HTTP date → absolute time; undefined when absent or unparsable. */
export function parseRetryAfter(value: unknown, now: Date = new Date()): Date | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const s = String(v).trim();
  if (/^\d+$/.test(s)) return new Date(now.getTime() + Number(s) * 1000);
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** The `detail` of an RFC 7807 problem document (parsed or not), else a short text. */
export function problemDetail(data: unknown): string {
  let d = data;
  if (Buffer.isBuffer(d)) d = d.toString('utf8');
  if (typeof d === 'string') {
    const text = d;
    try {
      d = JSON.parse(text);
    } catch {
      return text.trim().slice(0, 300);
    }
  }
  if (d && typeof d === 'object') {
    const o = d as { detail?: unknown; type?: unknown };
    if (typeof o.detail === 'string') return o.detail;
    if (typeof o.type === 'string') return o.type;
  }
  return '';
}

function describeNetworkError(err: HttpError, url: string | undefined): AcmeServerError {
  const code = err.code ?? '';
  let hint = '';
  if (TLS_TRUST_CODES.has(code)) {
    hint = ': the HTTPS certificate of the ACME server is not trusted; pass the CA that signed it (--acme-ca FILE) or set NODE_EXTRA_CA_CERTS';
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    hint = ': its host name does not resolve from here (check the directory URL and this machine\'s DNS)';
  } else if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    hint = ': check the directory URL and outgoing HTTPS (port 443) from this machine';
  }
  return new AcmeServerError(`cannot reach the ACME server at ${url ?? '(unknown URL)'}: ${code ? `${code} ` : ''}${err.message ?? 'network error'}${hint}`);
}

let installed = false;

/** How long one request to the CA may take (a timeout is a transient error, retried a few times). */
export const ACME_REQUEST_TIMEOUT_MS = 60_000;

/** Replaces acme-client's retry interceptor with the policy above. Idempotent. */
export function installAcmeHttpPolicy(): void {
  if (installed) return;
  installed = true;
  const ax = acme.axios;
  // axios waits forever by default: one CA connection that never answers would hold the renewal
  // unit (and so every later timer run) until a reboot
  ax.defaults.timeout = ACME_REQUEST_TIMEOUT_MS;
  ax.interceptors.response.clear();
  ax.interceptors.response.use(undefined, async (error: HttpError) => {
    const config = error.config;
    if (!config) throw error;
    const response = error.response;
    const attempt = config.registrySetupAttempt ?? 0;
    if (response) {
      if (response.status === 429) {
        throw new AcmeRateLimitError(problemDetail(response.data), parseRetryAfter(response.headers['retry-after']), config.url);
      }
      if (response.status >= 500 && response.status <= 599 && attempt < MAX_RETRIES) {
        config.registrySetupAttempt = attempt + 1;
        const after = parseRetryAfter(response.headers['retry-after']);
        const wait = after ? Math.min(Math.max(after.getTime() - Date.now(), 0), MAX_RETRY_DELAY_MS) : 1000 * (attempt + 1);
        await delay(wait);
        return ax.request(config);
      }
      const validate = config.retryValidateStatus;
      if (!validate || validate(response.status)) return response;
      throw error;
    }
    if (error.code && TRANSIENT_NETWORK_CODES.has(error.code) && attempt < MAX_RETRIES) {
      config.registrySetupAttempt = attempt + 1;
      await delay(1000 * (attempt + 1));
      return ax.request(config);
    }
    throw describeNetworkError(error, config.url);
  });
}

/**
 * Trust `caPem` (PEM, one or more certificates) in addition to the public roots for the ACME
 * server's HTTPS; undefined restores Node's defaults (which honour NODE_EXTRA_CA_CERTS).
 */
export function configureAcmeCa(caPem: string | undefined): void {
  acme.axios.defaults.httpsAgent = caPem ? new https.Agent({ ca: [...rootCertificates, caPem] }) : undefined;
}
