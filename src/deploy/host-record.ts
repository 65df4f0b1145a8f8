import type { RemoteHost } from '../remote/index.js';
import { HOST_LAYOUT } from '../host/contract.js';
import { checkPartial, type PartialSettings } from '../settings/resolve.js';
import { isAcmePeer } from '../settings/rules.js';

export interface HostRecord {
  registrySetupVersion: string;
  nginxMode?: string;
  /** the other hosts' address:port for ACME challenges (several Let's Encrypt hosts) */
  acmePeers?: string[];
  settings: PartialSettings;
}

/** What the last deploy recorded on the host (registry-setup.json), or null when there is no deployment. */
export async function readHostRecord(host: RemoteHost, dir: string): Promise<HostRecord | null> {
  const raw = await host.readFile(`${dir.replace(/\/+$/, '')}/${HOST_LAYOUT.deployedSettings}`, { sudo: true });
  if (!raw) return null;
  try {
    const doc = JSON.parse(raw.toString('utf8')) as { registrySetupVersion?: unknown; nginxMode?: unknown; acmePeers?: unknown; settings?: Record<string, unknown> };
    if (doc.acmePeers !== undefined && !(Array.isArray(doc.acmePeers) && doc.acmePeers.every((p) => typeof p === 'string' && isAcmePeer(p)))) {
      throw new Error('acmePeers is not a list of address:port');
    }
    // adoptedData is the record's own (adopt sets it, deploy keeps it), not a setting a user gives
    const { adoptedData, ...given } = doc.settings ?? {};
    if (adoptedData !== undefined && typeof adoptedData !== 'boolean') throw new Error('adoptedData is not true or false');
    return {
      registrySetupVersion: String(doc.registrySetupVersion ?? 'unknown'),
      nginxMode: typeof doc.nginxMode === 'string' ? doc.nginxMode : undefined,
      ...(doc.acmePeers ? { acmePeers: doc.acmePeers as string[] } : {}),
      settings: { ...checkPartial(given, `${dir}/${HOST_LAYOUT.deployedSettings}`, { formats: false }), ...(adoptedData ? { adoptedData } : {}) },
    };
  } catch (err) {
    throw new Error(`${dir}/${HOST_LAYOUT.deployedSettings} on the host is damaged (${(err as Error).message}); fix or remove it and deploy again`);
  }
}
