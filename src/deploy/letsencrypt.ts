import { readFile } from 'node:fs/promises';
import { certificateStatus, obtainOrRenew, resolveDirectoryUrl, resolverFor, type ObtainResult } from '../acme/index.js';
import type { RemoteHost } from '../remote/index.js';
import type { DeploySettings } from '../settings/settings.js';
import { RemoteAcmeStateStore, RemoteChallengeStore, acmePaths } from './acme-remote.js';

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

export interface EnsureCertificateOptions {
  force?: boolean;
  /** this server's addresses: the domain must resolve to one of them */
  expectedAddresses?: string[];
  log?: (line: string) => void;
  onRenewed?: (r: ObtainResult) => Promise<void>;
}

/**
 * Obtains or renews the certificate from the laptop: tokens go into the host's webroot over SSH,
 * the account, certificate and state are the same files the host-side renew command uses. Orders
 * nothing when a valid certificate for the domain is not due.
 */
export async function ensureCertificate(host: RemoteHost, settings: DeploySettings, o: EnsureCertificateOptions = {}): Promise<ObtainResult> {
  const paths = acmePaths(settings.dir);
  return obtainOrRenew({
    directoryUrl: directoryUrlOf(settings),
    email: settings.email,
    domains: [settings.domain],
    challengeStore: new RemoteChallengeStore(host, paths.challengeDir),
    stateStore: new RemoteAcmeStateStore(host, settings.dir),
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
