import {
  RENEWAL_STATE_FILE,
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
import { HOST_LAYOUT, NGINX_UID } from '../templates/render.js';

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

  /** Key first, then certificate, each an atomic replace; nginx is reloaded only afterwards. */
  async writeCertificate(files: CertificateFiles): Promise<void> {
    const owner = String(NGINX_UID);
    await this.host.upload(`${this.paths.tlsDir}/${TLS_FILE_NAMES.privateKey}`, files.keyPem, { mode: 0o600, owner, group: owner, sudo: true });
    await this.host.upload(`${this.paths.tlsDir}/${TLS_FILE_NAMES.certificate}`, files.certPem, { mode: 0o644, sudo: true });
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
  readRenewalState(): Promise<RenewalState | undefined> {
    return this.first.readRenewalState();
  }
  writeRenewalState(state: RenewalState): Promise<void> {
    return this.all((s) => s.writeRenewalState(state));
  }
}
