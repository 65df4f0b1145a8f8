// `upgrade`: the registry image rebuilt from this CLI's payload (dist/registry/) and swapped in
// without a gap: the new image is built while the old container serves, then started beside it and
// nginx switched over by graceful reloads (src/ops/gapless-upgrade.ts). Data, users (auth/) and
// certificates (tls/) are not touched.
import { parse as parseYaml } from 'yaml';
import type { Output, StepStatus } from '../console/output.js';
import type { FileChange } from '../deploy/executor.js';
import { containerFor, imageExists } from '../deploy/stack.js';
import { composeArgv, isPayloadFile, prunePayloadArgv, renderDeploymentFiles, startNeedsImageCheck, type FileSpec, type PayloadFile } from '../provision/index.js';
import { gaplessUpgradePlan } from '../provision/gapless-plan.js';
import { switchGapless } from './gapless-upgrade.js';
import { tokensFileForUpgrade } from '../provision/access-control.js';
import { HOST_LAYOUT } from '../host/contract.js';
import { registryImageTag, type NginxMode } from '../templates/render.js';
import { publicClient, type Deployment } from './deployment.js';
import { OpsError } from './errors.js';
import { compareSemver } from './version.js';

export class UpgradeError extends OpsError {}

export interface UpgradeOptions {
  /** the version to install (this CLI's) */
  version: string;
  /** this CLI's dist/registry/ (readRegistryPayload) */
  registryPayload: readonly PayloadFile[];
  /** allow installing an older version over a newer one */
  force: boolean;
  output: Output;
  /** tests: the ports were published on this address by deploy (hidden option) */
  publishAddress?: string;
  /** the upload secret every host shares: written where it is missing or different (then the registry restarts) */
  uploadSecret?: string;
}

export interface UpgradeResult {
  from: string;
  to: string;
  changed: boolean;
  image: string;
  files: FileChange[];
  /** how long the gapless switch took (from starting the new registry to removing the second slot; nothing is refused meanwhile) */
  restartMs?: number;
  removedImage?: string;
}

/**
 * Decides whether this CLI may install its version over the deployed one: same or newer is fine;
 * older only with --force (then a warning). Unknown versions are allowed with a warning.
 */
export function checkVersionOrder(deployed: string, mine: string, force: boolean, host: string): { warning?: string } {
  const order = compareSemver(mine, deployed);
  if (order === null) return deployed === mine ? {} : { warning: `cannot compare versions ${deployed} (deployed) and ${mine} (this CLI); continuing` };
  if (order >= 0) return {};
  const what = `this registry-setup (${mine}) is older than the deployment on ${host} (${deployed})`;
  if (!force) throw new UpgradeError(`${what}; install registry-setup ${deployed} or later, or pass --force to downgrade`);
  return { warning: `${what}; downgrading because of --force` };
}

export async function upgrade(d: Deployment, o: UpgradeOptions): Promise<UpgradeResult> {
  const { output } = o;
  const from = d.record.registrySetupVersion;
  const to = o.version;
  const check = checkVersionOrder(from, to, o.force, d.hostName);
  if (check.warning) output.warn(check.warning);

  const exec = d.exec;
  const target = await d.composeTarget();
  const image = registryImageTag(to);
  const result: UpgradeResult = { from, to, changed: false, image, files: [] };
  const nginxMode: NginxMode | undefined = d.record.nginxMode === 'https' || d.record.nginxMode === 'http-only' ? d.record.nginxMode : undefined;
  // Render with the settings exactly as recorded (the recorded target too, so registry-setup.json
  // only changes in its version).
  const settings = { ...d.settings, target: d.record.settings.target ?? d.settings.target };
  // compose.yaml points the registry at auth/tokens.yaml, which it needs at start
  const ciTokens = tokensFileForUpgrade(await d.host.readFile(d.path(HOST_LAYOUT.ciTokens), { sudo: true }));
  const rendered = renderDeploymentFiles(settings, {
    version: to,
    registryPayload: o.registryPayload,
    uploadSecret: o.uploadSecret,
    nginxMode,
    publishAddress: o.publishAddress,
    ciTokens,
    acmePeers: d.record.acmePeers,
  });
  const isRecord = (f: FileSpec) => f.path === d.path(HOST_LAYOUT.deployedSettings);
  // no htpasswd given: upgrade leaves the users as they are
  const files = rendered.files;
  const runtimeFiles = files.filter((f) => !isRecord(f));

  const step = async (id: string, name: string, run: () => Promise<{ status: StepStatus; detail?: string }>) => {
    const r = await output.step(id, name, run);
    if (r.status === 'done') result.changed = true;
    return r;
  };

  // compose.yaml decides which image runs: kept to put back if the new registry fails (the old
  // image is still there then, so the old container comes back as it was).
  const oldCompose = await d.host.readFile(d.path(HOST_LAYOUT.compose), { sudo: true });
  const oldNginxConf = await d.host.readFile(d.path(HOST_LAYOUT.nginxConf), { sudo: true });
  let changes: FileChange[] = [];
  const changed = (rel: string) => changes.some((c) => c.path === d.path(rel));

  await step('files', `Write the ${to} build files and compose.yaml`, async () => {
    await exec.ensureDirectories(rendered.directories);
    changes = (await exec.applyFiles(runtimeFiles)).filter((c) => c.action !== 'unchanged');
    if (changes.some((c) => isPayloadFile(d.dir, c.path))) await exec.run(prunePayloadArgv(d.dir, o.registryPayload));
    result.files.push(...changes);
    return { status: changes.length ? 'done' : 'unchanged', detail: changes.length ? changes.map((c) => `${c.action} ${c.path.slice(d.dir.length + 1)}`).join(', ') : undefined };
  });

  const changedFiles = changes.map((c) => c.path);
  await step('build', `Build ${image} (the running registry keeps serving)`, async () => {
    // the image is built when its inputs changed, else only when it is missing
    const imageUsable = startNeedsImageCheck({ target, version: to, composeInstalled: true, changedFiles }) && (await imageExists(exec, image));
    if (imageUsable) return { status: 'unchanged', detail: 'image exists' };
    try {
      await exec.run(composeArgv(target, 'build', 'registry'));
    } catch (err) {
      // the old registry still runs; make compose.yaml describe it again
      if (oldCompose && changed(HOST_LAYOUT.compose)) await d.host.upload(d.path(HOST_LAYOUT.compose), oldCompose, { mode: 0o644, owner: '0', group: '0', sudo: true });
      throw err;
    }
    return { status: 'done', detail: `built ${image}` };
  });

  const newCompose = files.find((f) => f.path === d.path(HOST_LAYOUT.compose))?.content;
  const nginxServiceChanged = changed(HOST_LAYOUT.compose) && newCompose !== undefined && serviceOf(oldCompose, 'nginx') !== serviceOf(newCompose, 'nginx');
  const before = await d.containers();
  const oldRegistry = containerFor(before, 'registry');
  const plan = gaplessUpgradePlan({ target, version: to, changedFiles, containers: before, nginxServiceChanged });
  await step('restart', 'Switch to the new registry without a gap', async () => {
    if (!plan.needed) return { status: 'unchanged', detail: `already runs ${image}` };
    const started = Date.now();
    const switched = switchGapless(d, {
      plan,
      target,
      nginxConf: (upstream) => renderDeploymentFiles(settings, { version: to, registryPayload: o.registryPayload, nginxMode, publishAddress: o.publishAddress, nginxUpstreamHost: upstream, acmePeers: d.record.acmePeers }).files.find((f) => f.path === d.path(HOST_LAYOUT.nginxConf))!,
      restore: { compose: changed(HOST_LAYOUT.compose) ? oldCompose : null, nginxConf: changed(HOST_LAYOUT.nginxConf) ? oldNginxConf : null },
      output,
    });
    await switched.catch((err: Error) => {
      throw new UpgradeError(err.message);
    });
    result.restartMs = Date.now() - started;
    return { status: 'done', detail: `${oldRegistry?.image ?? 'none'} → ${image} beside it, nginx switched by reloads; ${(result.restartMs / 1000).toFixed(1)} s` };
  });

  for (const argv of plan.reloadOnly) await exec.run(argv);

  await step('record', `Record version ${to} in registry-setup.json`, async () => {
    const changes = (await exec.applyFiles(files.filter(isRecord))).filter((c) => c.action !== 'unchanged');
    result.files.push(...changes);
    return { status: changes.length ? 'done' : 'unchanged' };
  });

  await step('verify', 'Check the public URL from here', async () => {
    const { client, url } = await publicClient(d);
    const deadline = Date.now() + 30_000;
    for (;;) {
      let status = 0;
      let error = '';
      try {
        status = (await client.request('GET', '/v2/', { auth: false })).status;
      } catch (err) {
        error = (err as Error).message;
      }
      if (status === 401) return { status: 'skipped', detail: `${url}/v2/ answers 401 without credentials` };
      if (Date.now() > deadline) {
        output.warn(`${url}/v2/ ${status ? `answered ${status}` : `is not reachable from here (${error})`}; the registry itself is healthy on the host`);
        return { status: 'skipped', detail: 'not confirmed' };
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  // The previous image is no longer needed (docker refuses while a container still uses it).
  if (oldRegistry && oldRegistry.image !== image && /^registry-setup\/registry:/.test(oldRegistry.image)) {
    const rm = await exec.run(['docker', 'image', 'rm', oldRegistry.image], { allowFailure: true });
    if (rm.code === 0) result.removedImage = oldRegistry.image;
  }
  return result;
}

/** One service of a compose file, as comparable text ('' when the file cannot be read). */
function serviceOf(compose: string | Buffer | null, service: string): string {
  try {
    const doc = parseYaml(compose ? compose.toString() : '') as { services?: Record<string, unknown> } | null;
    return JSON.stringify(doc?.services?.[service] ?? null);
  } catch {
    return '';
  }
}
