import { readFile } from 'node:fs/promises';
import { certificateStatus, obtainOrRenew, resolveDirectoryUrl, resolverFor, type ObtainResult } from '../acme/index.js';
import type { RemoteHost } from '../remote/index.js';
import type { DeploySettings } from '../settings/settings.js';
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
 * Makes every host hold the first host's certificate, key and renewal record (a host added later,
 * or one the first host's own renewal timer left behind). Returns, per host, whether it changed.
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
      await store.writeCertificate(source);
      if (state) await store.writeRenewalState(state);
      return true;
    }),
  );
}
