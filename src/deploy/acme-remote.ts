import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  LOCK_FILE,
  RENEWAL_STATE_FILE,
  RenewalLockedError,
  TLS_FILE_NAMES,
  accountFilePath,
  assertValidToken,
  parseAccount,
  parseRenewalState,
  serializeAccount,
  serializeRenewalState,
  type AccountRecord,
  type AcmeStateStore,
  type CertificateFiles,
  type ChallengeStore,
  type RenewalState,
} from '../acme/index.js';
import type { RemoteHost } from '../remote/index.js';
import { HOST_LAYOUT, NGINX_UID } from '../host/contract.js';

/** Host paths of the ACME state of a deployment. */
export function acmePaths(dir: string) {
  const base = dir.replace(/\/+$/, '');
  return {
    acmeDir: `${base}/acme`,
    tlsDir: `${base}/${HOST_LAYOUT.tlsDir}`,
    stateFile: `${base}/state/${RENEWAL_STATE_FILE}`,
    challengeDir: `${base}/${HOST_LAYOUT.acmeChallengeDir}`,
  };
}

/** HTTP-01 tokens written into the deployment's webroot over SSH (served by nginx on port 80). */
export class RemoteChallengeStore implements ChallengeStore {
  constructor(
    private readonly host: RemoteHost,
    private readonly challengeDir: string,
  ) {}

  async put(token: string, keyAuthorization: string): Promise<void> {
    assertValidToken(token);
    await this.host.upload(`${this.challengeDir}/${token}`, keyAuthorization, { mode: 0o644, sudo: true });
  }

  async remove(token: string): Promise<void> {
    assertValidToken(token);
    await this.host.exec(['rm', '-f', '--', `${this.challengeDir}/${token}`], { sudo: true });
  }
}

/** The same files as the host-side renew command keeps (LocalAcmeStateStore), over SSH. */
export class RemoteAcmeStateStore implements AcmeStateStore {
  private readonly paths: ReturnType<typeof acmePaths>;
  constructor(
    private readonly host: RemoteHost,
    dir: string,
  ) {
    this.paths = acmePaths(dir);
  }

  private async read(path: string): Promise<string | undefined> {
    const data = await this.host.readFile(path, { sudo: true });
    return data ? data.toString('utf8') : undefined;
  }

  async readAccount(directoryUrl: string): Promise<AccountRecord | undefined> {
    const file = `${this.paths.acmeDir}/${accountFilePath(directoryUrl)}`;
    const text = await this.read(file);
    return text === undefined ? undefined : parseAccount(text, directoryUrl, file);
  }

  async writeAccount(record: AccountRecord): Promise<void> {
    const file = `${this.paths.acmeDir}/${accountFilePath(record.directoryUrl)}`;
    await this.host.exec(['install', '-d', '-m', '0700', file.slice(0, file.lastIndexOf('/'))], { sudo: true });
    await this.host.upload(file, serializeAccount(record), { mode: 0o600, sudo: true });
  }

  async readCertificate(): Promise<CertificateFiles | undefined> {
    const certPem = await this.read(`${this.paths.tlsDir}/${TLS_FILE_NAMES.certificate}`);
    const keyPem = await this.read(`${this.paths.tlsDir}/${TLS_FILE_NAMES.privateKey}`);
    if (!certPem?.trim() || !keyPem?.trim()) return undefined;
    return { certPem, keyPem };
  }

  /**
   * Both files complete beside their names first, then the two renames in one command (as the
   * host-side store does): a failed upload never leaves a key beside another certificate.
   * nginx is reloaded only afterwards.
   */
  async writeCertificate(files: CertificateFiles): Promise<void> {
    const owner = String(NGINX_UID);
    const key = `${this.paths.tlsDir}/${TLS_FILE_NAMES.privateKey}`;
    const cert = `${this.paths.tlsDir}/${TLS_FILE_NAMES.certificate}`;
    const suffix = `.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await this.host.upload(key + suffix, files.keyPem, { mode: 0o600, owner, group: owner, sudo: true });
      await this.host.upload(cert + suffix, files.certPem, { mode: 0o644, sudo: true });
      await this.host.exec(['sh', '-c', 'mv -f -- "$1" "$2" && mv -f -- "$3" "$4"', 'sh', key + suffix, key, cert + suffix, cert], { sudo: true });
    } finally {
      await this.host.exec(['rm', '-f', '--', key + suffix, cert + suffix], { sudo: true, allowFailure: true });
    }
  }

  /**
   * The host-side renewal's lock file (`acme/renew.lock`), taken over SSH, so that this renewal and
   * the host's timer never order at the same time; a lock older than 30 minutes is taken over.
   */
  async lock(): Promise<() => Promise<void>> {
    const file = `${this.paths.acmeDir}/${LOCK_FILE}`;
    const content = JSON.stringify({ host: hostname(), pid: process.pid, since: new Date().toISOString(), id: randomBytes(8).toString('hex'), from: 'registry-setup certs renew' });
    await this.host.exec(['install', '-d', '-m', '0700', this.paths.acmeDir], { sudo: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      // noclobber makes '>' an O_EXCL create: exactly one taker
      const took = await this.host.exec(['sh', '-c', 'umask 077; set -C; printf %s "$1" > "$2"', 'sh', content, file], { sudo: true, allowFailure: true });
      if (took.code === 0) {
        return async () => {
          if ((await this.read(file)) === content) await this.host.exec(['rm', '-f', '--', file], { sudo: true, allowFailure: true });
        };
      }
      const stale = await this.host.exec(['find', file, '-maxdepth', '0', '-mmin', '+30'], { sudo: true, allowFailure: true });
      if (stale.code === 0 && stale.stdout.trim() !== '') {
        await this.host.exec(['rm', '-f', '--', file], { sudo: true });
        continue;
      }
      const holder = (await this.read(file))?.trim();
      throw new RenewalLockedError(`another certificate renewal is running on ${this.host.target.host} (lock ${file}: ${holder || 'no details'}); if none is, remove that file`);
    }
    throw new RenewalLockedError(`could not take the renewal lock ${file} on ${this.host.target.host}`);
  }

  async readRenewalState(): Promise<RenewalState | undefined> {
    const text = await this.read(this.paths.stateFile);
    return text === undefined ? undefined : parseRenewalState(text, this.paths.stateFile);
  }

  async writeRenewalState(state: RenewalState): Promise<void> {
    await this.host.exec(['install', '-d', '-m', '0755', this.paths.stateFile.slice(0, this.paths.stateFile.lastIndexOf('/'))], { sudo: true });
    await this.host.upload(this.paths.stateFile, serializeRenewalState(state), { mode: 0o644, sudo: true });
  }
}

/**
 * HTTP-01 over several hosts behind one name: every token goes into every host's webroot, so the
 * challenge passes whichever host the CA reaches (DNS round robin, a load balancer).
 */
export class FanOutChallengeStore implements ChallengeStore {
  constructor(private readonly stores: readonly ChallengeStore[]) {
    if (stores.length === 0) throw new Error('FanOutChallengeStore needs at least one store');
  }

  async put(token: string, keyAuthorization: string): Promise<void> {
    await Promise.all(this.stores.map((s) => s.put(token, keyAuthorization)));
  }

  async remove(token: string): Promise<void> {
    await Promise.all(this.stores.map((s) => s.remove(token)));
  }
}

/**
 * One certificate for several hosts: the account, the certificate and the renewal state are read
 * from the first store and written to all of them, so every host serves (and records) the same.
 */
export class FanOutStateStore implements AcmeStateStore {
  private readonly first: AcmeStateStore;
  constructor(private readonly stores: readonly AcmeStateStore[]) {
    if (!stores[0]) throw new Error('FanOutStateStore needs at least one store');
    this.first = stores[0];
  }

  /** Every write finishes (or fails) before the first failure is reported: none is left in flight. */
  private async all(write: (s: AcmeStateStore) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled(this.stores.map(write));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  readAccount(directoryUrl: string): Promise<AccountRecord | undefined> {
    return this.first.readAccount(directoryUrl);
  }
  writeAccount(record: AccountRecord): Promise<void> {
    return this.all((s) => s.writeAccount(record));
  }
  readCertificate(): Promise<CertificateFiles | undefined> {
    return this.first.readCertificate();
  }
  writeCertificate(files: CertificateFiles): Promise<void> {
    return this.all((s) => s.writeCertificate(files));
  }
  /**
   * Every host's lock, one after the other: each host's timer renews too, and this run writes every
   * host's files. A lock that cannot be taken releases those already held.
   */
  async lock(): Promise<() => Promise<void>> {
    const releases: Array<() => Promise<void>> = [];
    const releaseAll = async (): Promise<void> => {
      for (const release of releases.splice(0).reverse()) await release();
    };
    try {
      for (const s of this.stores) if (s.lock) releases.push(await s.lock());
    } catch (e) {
      await releaseAll();
      throw e;
    }
    return releaseAll;
  }
  readRenewalState(): Promise<RenewalState | undefined> {
    return this.first.readRenewalState();
  }
  writeRenewalState(state: RenewalState): Promise<void> {
    return this.all((s) => s.writeRenewalState(state));
  }
}
