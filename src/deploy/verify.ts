import { DEPLOY_CHECK_REPOSITORY } from '../provision/access-control.js';
import { RegistryClient } from '../client/registry-client.js';
import type { DeploySettings } from '../settings/settings.js';

export interface VerifyOptions {
  settings: DeploySettings;
  /** known only when this run set or generated it; without it only the 401 is checked */
  password?: string;
  ca?: Buffer;
  connectTo?: string;
}

export function publicUrl(settings: Pick<DeploySettings, 'domain' | 'httpsPort'>): string {
  return `https://${settings.domain}${settings.httpsPort === 443 ? '' : `:${settings.httpsPort}`}`;
}

/**
 * Proves the deployment from the laptop: /v2/ is 401 without credentials and 200 with them, and a
 * tiny generated image pushes and pulls back byte for byte (then its tag is deleted again).
 */
export async function verifyDeployment(o: VerifyOptions): Promise<{ anonymous: number; authenticated: number; pushed: string }> {
  const client = new RegistryClient({ baseUrl: publicUrl(o.settings), user: o.settings.user, password: o.password ?? '', ca: o.ca, connectTo: o.connectTo });
  const deadline = Date.now() + 30_000;
  let ping: { anonymous: number; authenticated: number };
  // nginx may need a moment after a reload or a fresh start; poll with a deadline.
  for (;;) {
    try {
      ping = await client.ping();
      if (ping.anonymous === 401) break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${publicUrl(o.settings)}/v2/ is not reachable from here: ${(err as Error).message}`);
    }
    if (Date.now() > deadline) throw new Error(`${publicUrl(o.settings)}/v2/ answered ${ping!.anonymous} without credentials, expected 401`);
    await new Promise((r) => setTimeout(r, 500));
  }
  if (o.password === undefined) return { ...ping, pushed: '' };
  if (ping.authenticated !== 200) throw new Error(`${publicUrl(o.settings)}/v2/ answered ${ping.authenticated} with the credentials of ${o.settings.user}, expected 200`);
  const pushed = await client.pushAndPullTinyImage(DEPLOY_CHECK_REPOSITORY, 'deploy-check');
  await client.request('DELETE', `/v2/${DEPLOY_CHECK_REPOSITORY}/manifests/${pushed}`);
  return { ...ping, pushed };
}
