// Persistent ACME state: the account per directory, the installed certificate + key, and the result
// of the last renewal. The deploy CLI implements AcmeStateStore over SSH (same file formats, via
// the serialize/parse helpers below); the renew command on the host uses LocalAcmeStateStore.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { accountFilePath, validateDirectoryUrl } from './directory.js';
import { RenewalLockedError } from './errors.js';
import { isNotFound, ownerFor, syncDir, writeFileAtomic, writeTempBeside, type FileOwner } from './fs-atomic.js';

/** `<acmeDir>/<directory-host>[-<hash>]/account.json`, mode 0600. */
export interface AccountRecord {
  directoryUrl: string;
  /** the account's URL (the JWS "kid"); absent only if the key was saved but registration never completed */
  accountUrl?: string;
  email?: string;
  createdAt: string;
  /** PKCS#8 PEM of the account key (ECDSA P-256) */
  accountKeyPem: string;
}

/** The installed certificate: fullchain.pem (leaf first) and privkey.pem. */
export interface CertificateFiles {
  certPem: string;
  keyPem: string;
}

export type RenewalResult = 'renewed' | 'not-due' | 'failed';

/**
 * The renewal state JSON. The certificate fields (serial … names) always describe the certificate
 * installed after the last run, whatever its result; `directoryUrl` is the ACME directory that issued
 * it (absent when the installed certificate was not issued by us, e.g. a self-signed placeholder).
 */
export interface RenewalState {
  lastAttempt: string;
  lastResult: RenewalResult;
  /** one-line message of the last failure (only when lastResult is 'failed') */
  error?: string;
  /** when the last certificate was obtained */
  lastRenewed?: string;
  directoryUrl?: string;
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  issuer?: string;
  names?: string[];
  /** the CA answered 429: do not contact it again before retryAfter (unless forced) */
  rateLimit?: { directoryUrl: string; retryAfter?: string; detail: string };
}

export interface AcmeStateStore {
  /** The account for this directory, or undefined when there is none yet. */
  readAccount(directoryUrl: string): Promise<AccountRecord | undefined>;
  /** Creates or replaces the account file (atomically, mode 0600). */
  writeAccount(record: AccountRecord): Promise<void>;
  /** Both files, or undefined when either is missing. */
  readCertificate(): Promise<CertificateFiles | undefined>;
  /**
   * Replaces both files: writes both as temp files in the TLS directory first, then renames them
   * into place (key, then certificate). A reader between the two renames can see a new key with the
   * old certificate, so nginx must be reloaded only after this resolves (obtainOrRenew checks that
   * key and certificate match before trusting installed files). privkey.pem is never readable by
   * others (0600 unless the existing file had group read).
   */
  writeCertificate(files: CertificateFiles): Promise<void>;
  readRenewalState(): Promise<RenewalState | undefined>;
  writeRenewalState(state: RenewalState): Promise<void>;
  /** Optional mutual exclusion of renewals; resolves to a release function. */
  lock?(): Promise<() => Promise<void>>;
}

// ---------------------------------------------------------------------------------------------
// File formats (shared with remote implementations)

export const TLS_FILE_NAMES = { certificate: 'fullchain.pem', privateKey: 'privkey.pem' } as const;
export const RENEWAL_STATE_FILE = 'renewal.json';
export const LOCK_FILE = 'renew.lock';

export function serializeAccount(record: AccountRecord): string {
  const { directoryUrl, accountUrl, email, createdAt, accountKeyPem } = record;
  return `${JSON.stringify({ directoryUrl, accountUrl, email, createdAt, accountKeyPem }, null, 2)}\n`;
}

/** JSON.parse whose error names the file. */
function parseJsonObject(text: string, where: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${where}: not JSON (${(e as Error).message})`);
  }
}

/** Parses account.json; throws (naming `where`) when malformed or for another directory. */
export function parseAccount(text: string, directoryUrl: string, where = 'account.json'): AccountRecord {
  const o = parseJsonObject(text, where);
  if (!o || typeof o !== 'object' || typeof o.accountKeyPem !== 'string' || !o.accountKeyPem.includes('PRIVATE KEY')) {
    throw new Error(`${where}: no accountKeyPem`);
  }
  if (typeof o.directoryUrl !== 'string' || validateDirectoryUrl(o.directoryUrl) !== validateDirectoryUrl(directoryUrl)) {
    throw new Error(`${where}: belongs to ${String(o.directoryUrl)}, not ${directoryUrl}`);
  }
  if (o.accountUrl !== undefined && typeof o.accountUrl !== 'string') throw new Error(`${where}: accountUrl is not a string`);
  return {
    directoryUrl: o.directoryUrl,
    accountUrl: o.accountUrl as string | undefined,
    email: typeof o.email === 'string' ? o.email : undefined,
    createdAt: typeof o.createdAt === 'string' ? o.createdAt : '',
    accountKeyPem: o.accountKeyPem,
  };
}

export function serializeRenewalState(state: RenewalState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

const RESULTS: readonly RenewalResult[] = ['renewed', 'not-due', 'failed'];

export function parseRenewalState(text: string, where = RENEWAL_STATE_FILE): RenewalState {
  const o = parseJsonObject(text, where);
  if (!o || typeof o !== 'object' || typeof o.lastAttempt !== 'string' || !RESULTS.includes(o.lastResult as RenewalResult)) {
    throw new Error(`${where}: not a renewal state (lastAttempt/lastResult missing)`);
  }
  if (o.names !== undefined && !(Array.isArray(o.names) && o.names.every((n) => typeof n === 'string'))) {
    throw new Error(`${where}: names is not a list of strings`);
  }
  return o as unknown as RenewalState;
}

// ---------------------------------------------------------------------------------------------
// Local filesystem implementation

export interface LocalAcmeStateStoreOptions {
  /** accounts (`<acmeDir>/<directory-host>[-<hash>]/account.json`), the lock, and by default the state file */
  acmeDir: string;
  /** holds fullchain.pem and privkey.pem (the directory nginx mounts) */
  tlsDir: string;
  /** renewal state JSON; default `<acmeDir>/renewal.json` */
  stateFile?: string;
  /**
   * Owner of new fullchain.pem/privkey.pem. Default: the owner of the existing files when running as
   * root (so a key owned by nginx's uid stays readable by nginx), else the current user.
   */
  tlsFileOwner?: FileOwner;
  /** a lock older than this is considered abandoned (default 30 min) */
  staleLockMs?: number;
}

/** Written with a certificate, removed by renew.sh once nginx has been reloaded. */
export const RELOAD_MARKER = 'reload-pending';

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export class LocalAcmeStateStore implements AcmeStateStore {
  readonly acmeDir: string;
  readonly tlsDir: string;
  readonly stateFile: string;

  constructor(private readonly opts: LocalAcmeStateStoreOptions) {
    this.acmeDir = opts.acmeDir;
    this.tlsDir = opts.tlsDir;
    this.stateFile = opts.stateFile ?? join(opts.acmeDir, RENEWAL_STATE_FILE);
  }

  accountFile(directoryUrl: string): string {
    return join(this.acmeDir, accountFilePath(directoryUrl));
  }

  get certificateFile(): string {
    return join(this.tlsDir, TLS_FILE_NAMES.certificate);
  }

  get privateKeyFile(): string {
    return join(this.tlsDir, TLS_FILE_NAMES.privateKey);
  }

  async readAccount(directoryUrl: string): Promise<AccountRecord | undefined> {
    const file = this.accountFile(directoryUrl);
    const text = await readIfExists(file);
    return text === undefined ? undefined : parseAccount(text, directoryUrl, file);
  }

  async writeAccount(record: AccountRecord): Promise<void> {
    const file = this.accountFile(record.directoryUrl);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, serializeAccount(record), { mode: 0o600 });
  }

  async readCertificate(): Promise<CertificateFiles | undefined> {
    const certPem = await readIfExists(this.certificateFile);
    const keyPem = await readIfExists(this.privateKeyFile);
    if (!certPem?.trim() || !keyPem?.trim()) return undefined;
    return { certPem, keyPem };
  }

  async writeCertificate(files: CertificateFiles): Promise<void> {
    await mkdir(this.tlsDir, { recursive: true, mode: 0o755 });
    const keyFile = this.privateKeyFile;
    const certFile = this.certificateFile;
    let keyMode = 0o600;
    try {
      keyMode = (await stat(keyFile)).mode & 0o640; // keep group read if it was given, never others
      if ((keyMode & 0o600) !== 0o600) keyMode |= 0o600;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const temps: string[] = [];
    try {
      const keyTmp = await writeTempBeside(keyFile, files.keyPem, { mode: keyMode, owner: await ownerFor(keyFile, this.opts.tlsFileOwner) });
      temps.push(keyTmp);
      const certTmp = await writeTempBeside(certFile, files.certPem, { mode: 0o644, owner: await ownerFor(certFile, this.opts.tlsFileOwner) });
      temps.push(certTmp);
      // both are complete on disk; now the two renames, back to back
      await rename(keyTmp, keyFile);
      await rename(certTmp, certFile);
      temps.length = 0;
    } finally {
      for (const t of temps) await rm(t, { force: true });
    }
    await syncDir(this.tlsDir);
    // until nginx has loaded these files (renew.sh removes it after the reload); see reloadPending
    await mkdir(dirname(this.reloadMarker), { recursive: true, mode: 0o755 });
    await writeFileAtomic(this.reloadMarker, `${new Date().toISOString()}\n`, { mode: 0o644 });
  }

  /** Beside the renewal state: `reload-pending`. */
  get reloadMarker(): string {
    return join(dirname(this.stateFile), RELOAD_MARKER);
  }

  /**
   * A certificate was installed and nginx has not been reloaded since: the reload failed, or the
   * run ended between the two. The next run reports it as renewed so that the reload happens.
   */
  async reloadPending(): Promise<boolean> {
    return (await readIfExists(this.reloadMarker)) !== undefined;
  }

  async readRenewalState(): Promise<RenewalState | undefined> {
    const text = await readIfExists(this.stateFile);
    return text === undefined ? undefined : parseRenewalState(text, this.stateFile);
  }

  async writeRenewalState(state: RenewalState): Promise<void> {
    await mkdir(dirname(this.stateFile), { recursive: true, mode: 0o755 });
    await writeFileAtomic(this.stateFile, serializeRenewalState(state), { mode: 0o644 });
  }

  /**
   * An exclusive lock file `<acmeDir>/renew.lock` (O_EXCL). A lock older than staleLockMs is taken
   * over (the holder died); a run takes minutes at most.
   */
  async lock(): Promise<() => Promise<void>> {
    const file = join(this.acmeDir, LOCK_FILE);
    const staleMs = this.opts.staleLockMs ?? 30 * 60_000;
    await mkdir(this.acmeDir, { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(file, 'wx', 0o600);
        const content = JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), id: randomBytes(8).toString('hex') });
        try {
          await fh.writeFile(content);
        } finally {
          await fh.close();
        }
        let released = false;
        return async () => {
          if (released) return;
          released = true;
          // only our own lock: after a takeover the file belongs to another run
          if ((await readIfExists(file)) === content) await rm(file, { force: true });
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        let age: number;
        try {
          age = Date.now() - (await stat(file)).mtimeMs;
        } catch (se) {
          if (isNotFound(se)) continue; // released meanwhile
          throw se;
        }
        if (age > staleMs) {
          await rm(file, { force: true });
          continue;
        }
        const holder = (await readIfExists(file)) ?? '';
        throw new RenewalLockedError(
          `another certificate renewal is running (lock ${file}: ${holder.trim() || 'no details'}); if none is, remove that file`,
        );
      }
    }
    throw new RenewalLockedError(`could not take the renewal lock ${file}`);
  }
}
