import { readFile } from 'node:fs/promises';
import { certificateStatus, keyMatchesCertificate, obtainOrRenew, parseCertificate, sameNames, resolveDirectoryUrl, resolverFor, type CertificateFiles, type ObtainResult, type RenewalState } from '../acme/index.js';
import type { RemoteHost } from '../remote/index.js';
import type { DeploySettings } from '../settings/settings.js';
import { eachHost } from '../console/output.js';
import { FanOutChallengeStore, FanOutStateStore, RemoteAcmeStateStore, RemoteChallengeStore, acmePaths } from './acme-remote.js';

export function directoryUrlOf(settings: Pick<DeploySettings, 'acmeDirectory' | 'staging'>): string {
  return resolveDirectoryUrl({ directory: settings.acmeDirectory, staging: settings.staging });
}

/** Host path of the uploaded CA of a private ACME server (when --acme-ca is used). */
export function acmeCaHostPath(dir: string): string {
  return `${acmePaths(dir).acmeDir}/ca.pem`;
}

/** Whether a certificate is installed, and whether it is due (for --dry-run and the nginx mode). */
export async function installedCertificate(host: RemoteHost, settings: DeploySettings): Promise<{ present: boolean; due: boolean }> {
  const store = new RemoteAcmeStateStore(host, settings.dir);
  const files = await store.readCertificate();
  if (!files) return { present: false, due: true };
  try {
    return { present: true, due: certificateStatus(files.certPem, await store.readRenewalState()).due };
  } catch {
    return { present: true, due: true };
  }
}

/** A deployment's install directory on a host. */
export interface CertificatePlace {
  host: RemoteHost;
  dir: string;
}

export interface EnsureCertificateOptions {
  force?: boolean;
  /** the servers' addresses: the domain must resolve to one of them (not checked when absent) */
  expectedAddresses?: string[];
  log?: (line: string) => void;
  onRenewed?: (r: ObtainResult) => Promise<void>;
}

/**
 * Obtains or renews the certificate from the laptop: tokens go into the hosts' webroots over SSH,
 * the account, certificate and state are the same files the host-side renew command uses. Orders
 * nothing when a valid certificate for the domain is not due. With several hosts, every token and
 * every file goes to all of them (and is read from the first).
 */
export async function ensureCertificate(places: readonly CertificatePlace[], settings: DeploySettings, o: EnsureCertificateOptions = {}): Promise<ObtainResult> {
  return obtainOrRenew({
    directoryUrl: directoryUrlOf(settings),
    email: settings.email,
    domains: [settings.domain],
    challengeStore: new FanOutChallengeStore(places.map((p) => new RemoteChallengeStore(p.host, acmePaths(p.dir).challengeDir))),
    stateStore: new FanOutStateStore(places.map((p) => new RemoteAcmeStateStore(p.host, p.dir))),
    force: o.force,
    caPem: settings.acmeCa ? await readFile(settings.acmeCa, 'utf8') : undefined,
    preflight: {
      httpPort: settings.httpPort,
      expectedAddresses: o.expectedAddresses,
      // The DNS check asks the resolver the CA would see; REGISTRY_SETUP_DNS_SERVER (ip[:port],
      // comma-separated) points it at another one, e.g. a private CA's own DNS or a test DNS server.
      ...(process.env.REGISTRY_SETUP_DNS_SERVER ? { resolver: resolverFor(process.env.REGISTRY_SETUP_DNS_SERVER.split(',')) } : {}),
    },
    log: o.log,
    onRenewed: o.onRenewed,
  });
}

/**
 * A host's own certificate (its timer renewed it) stays: valid, not due, not self-signed, its key
 * matching, for the same names as the first host's. Otherwise that host gets the first host's copy.
 */
export function keepsOwnCertificate(current: CertificateFiles, state: RenewalState | undefined, sourceCertPem: string, now = new Date()): boolean {
  try {
    const own = certificateStatus(current.certPem, state, now);
    return !own.expired && !own.due && !own.selfSigned && sameNames(own.names, parseCertificate(sourceCertPem).names) && keyMatchesCertificate(current.certPem, current.keyPem);
  } catch {
    return false;
  }
}

/**
 * Makes every host hold a valid certificate: the first host's certificate, key and renewal record
 * go to a host that has none (added later) or whose own is due, expired or for other names (each
 * host's timer renews its own otherwise). Returns, per host, whether it changed.
 */
export async function syncCertificate(places: readonly CertificatePlace[]): Promise<boolean[]> {
  const stores = places.map((p) => new RemoteAcmeStateStore(p.host, p.dir));
  const [source, state] = await Promise.all([stores[0]!.readCertificate(), stores[0]!.readRenewalState()]);
  if (!source) return places.map(() => false);
  return Promise.all(
    stores.map(async (store, i) => {
      if (i === 0) return false;
      const current = await store.readCertificate();
      if (current?.certPem === source.certPem && current.keyPem === source.keyPem) return false;
      // a host that renewed its own certificate (its timer) keeps it while it is valid and not due
      if (current && keepsOwnCertificate(current, await store.readRenewalState(), source.certPem)) return false;
      await store.writeCertificate(source);
      if (state) await store.writeRenewalState(state);
      return true;
    }),
  );
}

/** A host that takes part in a renewal: where its files are, and how its nginx is reloaded. */
export interface InstallPlace extends CertificatePlace {
  /** how output names the host (with several) */
  label: string;
  reloadNginx(): Promise<void>;
}

export interface RenewAndInstallOptions extends EnsureCertificateOptions {
  /** reload every host's nginx, not only those that got a new certificate (certs renew) */
  reloadAll?: boolean;
  /** on a host about to be reloaded, before the reload (e.g. switch nginx.conf to https) */
  beforeReload?: (index: number) => Promise<void>;
  /** on a host after its reload */
  afterReload?: (index: number) => Promise<void>;
}

export interface RenewAndInstallResult {
  obtained: ObtainResult;
  /** a certificate was ordered this time */
  fresh: boolean;
  /** how many hosts other than the first got the first host's certificate */
  copies: number;
}

/**
 * Let's Encrypt renew + install + reload, for deploy and certs renew alike: the certificate is
 * obtained or renewed when due (through every host), every host gets the first host's copy, and
 * nginx is reloaded where the certificate changed (or everywhere with reloadAll).
 */
export async function renewAndInstall(places: readonly InstallPlace[], settings: DeploySettings, o: RenewAndInstallOptions = {}): Promise<RenewAndInstallResult> {
  const obtained = await ensureCertificate(places, settings, o);
  const fresh = obtained.action !== 'not-due';
  // every host serves the first host's certificate afterwards (a new one, or one a host lacks)
  const synced = places.length > 1 ? await syncCertificate(places) : places.map(() => false);
  await eachHost(places, (p) => p.label, async (p, i) => {
    if (!o.reloadAll && !fresh && !synced[i]) return;
    await o.beforeReload?.(i);
    await p.reloadNginx();
    await o.afterReload?.(i);
  });
  return { obtained, fresh, copies: synced.filter(Boolean).length };
}
