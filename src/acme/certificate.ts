// Reading certificates (node:crypto X509Certificate) and the renewal schedule: a certificate is due
// when less than one third of its lifetime (notBefore..notAfter) remains, so it adapts to 90, 64 or
// 45-day certificates alike.
import { createPublicKey, X509Certificate } from 'node:crypto';
import type { RenewalResult, RenewalState } from './state-store.js';
import { renewalSchedule, type RenewalSlot } from './schedule.js';

export interface CertificateInfo {
  /** DNS names from subjectAltName (lowercase, sorted) */
  names: string[];
  /** issuer DN on one line, e.g. "C=US, O=Let's Encrypt, CN=R11" */
  issuer: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** lowercase hex, as `openssl x509 -serial` prints it */
  serial: string;
  /** issuer == subject and self-signature verifies */
  selfSigned: boolean;
  /** 'ec' / 'rsa' / ... and for EC the curve (e.g. 'prime256v1') */
  keyType: string;
  curve?: string;
}

const DAY_MS = 86_400_000;

/** The PEM certificates in a chain, leaf first. */
export function splitPemChain(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}

function oneLineDn(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

/** DNS names in a subjectAltName string such as `DNS:a.example, DNS:b.example, IP Address:1.2.3.4`. */
export function dnsNamesFromSan(san: string | undefined): string[] {
  if (!san) return [];
  return san
    .split(/,\s*/)
    .filter((p) => p.startsWith('DNS:'))
    .map((p) => p.slice(4).trim().toLowerCase())
    .sort();
}

/** Parses the first certificate of a PEM chain. Throws on anything that is not a certificate. */
export function parseCertificate(pem: string): CertificateInfo {
  const [leaf] = splitPemChain(pem);
  if (!leaf) throw new Error('no PEM certificate found');
  const x = new X509Certificate(leaf);
  const details = x.publicKey.asymmetricKeyDetails;
  return {
    names: dnsNamesFromSan(x.subjectAltName),
    issuer: oneLineDn(x.issuer),
    subject: oneLineDn(x.subject),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    serial: x.serialNumber.toLowerCase(),
    selfSigned: x.issuer === x.subject && x.checkIssued(x) && x.verify(x.publicKey),
    keyType: x.publicKey.asymmetricKeyType ?? 'unknown',
    curve: details?.namedCurve,
  };
}

/** Whether `keyPem` is the private key of the first certificate in `certPem`. */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  try {
    const [leaf] = splitPemChain(certPem);
    if (!leaf) return false;
    const x = new X509Certificate(leaf);
    const fromKey = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
    const fromCert = x.publicKey.export({ type: 'spki', format: 'der' });
    return Buffer.compare(fromKey, fromCert) === 0;
  } catch {
    return false;
  }
}

/** When renewal becomes due: notAfter minus one third of the lifetime. */
export function renewalDueAt(notBefore: Date, notAfter: Date): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return new Date(notAfter.getTime() - lifetime / 3);
}

export function isDue(info: Pick<CertificateInfo, 'notBefore' | 'notAfter'>, now: Date): boolean {
  return now.getTime() >= renewalDueAt(info.notBefore, info.notAfter).getTime();
}

// Single-label names are allowed: a private ACME CA may issue for them (public CAs refuse them themselves).
const DOMAIN_RE = /^(?=.{1,253}$)(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Lowercases, trims, de-duplicates (keeping order) and validates domain names. */
export function normalizeDomains(domains: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of domains) {
    const d = raw.trim().toLowerCase().replace(/\.$/, '');
    if (!DOMAIN_RE.test(d)) throw new Error(`not a domain name: ${JSON.stringify(raw)}`);
    if (d.startsWith('*.')) throw new Error(`wildcard names need DNS-01 validation, which is not supported: ${raw}`);
    if (!out.includes(d)) out.push(d);
  }
  if (out.length === 0) throw new Error('no domain name given');
  return out;
}

export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a.map((n) => n.toLowerCase()))].sort();
  const y = [...new Set(b.map((n) => n.toLowerCase()))].sort();
  return x.length === y.length && x.every((n, i) => n === y[i]);
}

/** What `certs status` shows. */
export interface CertificateStatus {
  names: string[];
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  /** whole days until notAfter (negative once expired) */
  daysLeft: number;
  /** when renewal becomes due (one third of the lifetime left) */
  dueAt: string;
  due: boolean;
  expired: boolean;
  selfSigned: boolean;
  lastAttempt?: string;
  lastResult?: RenewalResult;
  /** message of the last failure */
  lastError?: string;
  lastRenewed?: string;
  /** the CA's Retry-After after a 429 */
  retryAfter?: string;
  /** set when something needs a human: expired, or due and renewal is failing or not running */
  warning?: string;
}

/**
 * A renewal that is due for longer than this without success means the timer is not running: two
 * days, or a sixth of the lifetime for short-lived certificates (a day of a 6-day one).
 */
const stalledAfterMs = (info: CertificateInfo): number => Math.min(2 * DAY_MS, (info.notAfter.getTime() - info.notBefore.getTime()) / 6);

/**
 * The status of an installed certificate combined with the last renewal result. `state` may be
 * undefined (never renewed by us) or describe another certificate; its run fields are shown anyway.
 */
export function certificateStatus(certPem: string, state?: RenewalState, now: Date = new Date(), slot?: RenewalSlot): CertificateStatus {
  const info = parseCertificate(certPem);
  // with several hosts, when this host's turn to order comes (one host: a third of the lifetime left)
  const dueAt = renewalSchedule(info, slot).orderFrom;
  const expired = now.getTime() >= info.notAfter.getTime();
  const due = now.getTime() >= dueAt.getTime();
  const status: CertificateStatus = {
    names: info.names,
    issuer: info.issuer,
    serial: info.serial,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    daysLeft: Math.floor((info.notAfter.getTime() - now.getTime()) / DAY_MS),
    dueAt: dueAt.toISOString(),
    due,
    expired,
    selfSigned: info.selfSigned,
  };
  if (state) {
    status.lastAttempt = state.lastAttempt;
    status.lastResult = state.lastResult;
    if (state.error) status.lastError = state.error;
    if (state.lastRenewed) status.lastRenewed = state.lastRenewed;
    if (state.rateLimit?.retryAfter) status.retryAfter = state.rateLimit.retryAfter;
  }
  if (expired) {
    status.warning = `the certificate expired on ${status.notAfter}`;
  } else if (due && state?.lastResult === 'failed') {
    status.warning = `renewal has been due since ${status.dueAt} and the last attempt (${state.lastAttempt}) failed: ${state.error ?? 'unknown error'}`;
  } else if (due && now.getTime() - dueAt.getTime() > stalledAfterMs(info)) {
    status.warning = `renewal has been due since ${status.dueAt} but has not happened${state ? ` (last attempt ${state.lastAttempt})` : ''}: is the renewal timer running?`;
  }
  return status;
}
