// `destroy`: stop and remove what deploy set up, keep what cannot be recreated (image data,
// certificates, the ACME account) unless --purge. Safe to run again: each run says exactly what it
// removed and what it kept.
import { posix } from 'node:path';
import type { Output } from '../console/output.js';
import { listContainers } from '../deploy/stack.js';
import { composeDownArgv, ufwRemoveArgv, ufwRuleComment } from '../provision/index.js';
import { renewalUnitName, SYSTEMD_DIR } from '../provision/renewal.js';
import { HOST_LAYOUT, RETENTION_LAYOUT } from '../host/contract.js';
import { retentionUnitName } from '../provision/retention.js';
import { registryImageTag } from '../templates/render.js';
import { detectCompose, NoDeploymentError, type HostSession } from './deployment.js';

/**
 * The timers and services that deploy installs, timer first: the certificate renewal
 * (src/provision/renewal.ts) and the retention rules (src/provision/retention.ts).
 */
export function renewUnits(project: string): string[] {
  const unit = renewalUnitName(project);
  const retention = retentionUnitName(project);
  return [`${unit}.timer`, `${unit}.service`, `${retention}.timer`, `${retention}.service`];
}

/** What a unit of renewUnits is for, as destroy reports it. */
export const unitPurpose = (unit: string): string => (unit.includes('-retention') ? 'retention rules' : 'certificate renewal');
/** Written into state/ by destroy: lets a later `destroy` (e.g. --purge) find the data directory. */
export const DESTROYED_RECORD = 'state/destroyed.json';

/** What deploy generates under the install directory: always removed. */
export const GENERATED = [
  { rel: HOST_LAYOUT.compose, what: 'compose file' },
  { rel: HOST_LAYOUT.nginxDir, what: 'nginx configuration' },
  { rel: HOST_LAYOUT.buildDir, what: 'registry image build files' },
  { rel: HOST_LAYOUT.deployedSettings, what: 'deployment record' },
  { rel: HOST_LAYOUT.webroot, what: 'ACME challenge webroot' },
  { rel: 'renew.sh', what: 'certificate renewal script' },
  // deploy uploads them again from the files mirrors: names
  { rel: HOST_LAYOUT.mirrorCredentialsDir, what: "the mirrors' upstream credentials" },
  { rel: RETENTION_LAYOUT.script, what: 'retention script' },
  { rel: RETENTION_LAYOUT.policy, what: 'retention rules' },
] as const;

/**
 * Kept unless --purge: what a re-deploy cannot make again as it was (its users and their
 * passwords, the bucket's credentials, which deploy asks for only once, the certificate).
 */
export const PRECIOUS = [
  { rel: HOST_LAYOUT.tlsDir, what: 'TLS certificate and key' },
  { rel: HOST_LAYOUT.acmeDir, what: 'ACME account' },
  { rel: HOST_LAYOUT.authDir, what: 'registry users (htpasswd)' },
  { rel: HOST_LAYOUT.uploadSecret, what: 'upload secret' },
  { rel: HOST_LAYOUT.s3Credentials, what: 'S3 credentials' },
  { rel: HOST_LAYOUT.s3Ca, what: "the bucket endpoint's CA" },
  { rel: HOST_LAYOUT.stateDir, what: 'last GC and renewal results' },
] as const;

/** System directories a --data-dir could be set to: purge removes only the registry's content there. */
const NEVER_REMOVE = new Set(['/', '/srv', '/var', '/var/lib', '/opt', '/home', '/usr', '/etc', '/root', '/tmp', '/mnt', '/data']);

export interface DestroyItem {
  path: string;
  what: string;
  bytes?: number;
}

export interface DestroyPlan {
  dir: string;
  dataDir: string;
  /** the bucket holding the images (never touched by destroy) */
  storage?: string;
  domain?: string;
  version?: string;
  /** no registry-setup.json: an earlier destroy already ran (kept data, tls/ or state/ are left) */
  alreadyDestroyed: boolean;
  containers: { id: string; service: string; state: string }[];
  composeFile: boolean;
  /** the registry image, when it exists (kept unless --purge) */
  image?: string;
  units: string[];
  /** our ufw rules (`ufw status numbered` lines carrying the deployment's comment) */
  firewallRules: string[];
  remove: DestroyItem[];
  keep: DestroyItem[];
}

export interface DestroyResult {
  removed: DestroyItem[];
  kept: DestroyItem[];
  purged: boolean;
  dryRun: boolean;
}

/**
 * Looks at the host. Without registry-setup.json, a directory that an earlier destroy left behind
 * still counts (so running destroy again is harmless, and --purge can follow later); a directory
 * with nothing of ours is NoDeploymentError.
 */
export async function planDestroy(s: HostSession, purge: boolean): Promise<DestroyPlan> {
  const record = s.record;
  const note = record ? null : await s.host.readFile(s.path(DESTROYED_RECORD), { sudo: true });
  let dataDir = record?.settings.dataDir ?? `${s.dir}/data`;
  let storage = record?.settings.storage;
  let domain = record?.settings.domain;
  let version = record?.registrySetupVersion;
  if (!record && note) {
    try {
      const doc = JSON.parse(note.toString('utf8')) as { dataDir?: string; storage?: string; domain?: string; registrySetupVersion?: string };
      if (typeof doc.dataDir === 'string' && doc.dataDir.startsWith('/')) dataDir = doc.dataDir;
      if (typeof doc.storage === 'string') storage = doc.storage;
      if (typeof doc.domain === 'string') domain = doc.domain;
      if (typeof doc.registrySetupVersion === 'string') version = doc.registrySetupVersion;
    } catch {
      // a damaged note: fall back to the default data directory
    }
  }
  dataDir = dataDir.length > 1 ? dataDir.replace(/\/+$/, '') : dataDir;
  let image: string | undefined;
  try {
    image = version ? registryImageTag(version) : undefined;
  } catch {
    image = undefined;
  }
  const unitNames = renewUnits(s.project);
  const candidates = [...GENERATED.map((g) => s.path(g.rel)), ...PRECIOUS.map((p) => s.path(p.rel)), dataDir, ...unitNames.map((u) => posix.join(SYSTEMD_DIR, u))];
  const [present, all, listed, du, imageCheck] = await Promise.all([
    s.exec.existing(candidates),
    listContainers(s.exec, s.project),
    // systemd may know the units from elsewhere too (e.g. /lib/systemd/system)
    s.exec.run(['sh', '-c', 'command -v systemctl >/dev/null 2>&1 || exit 0; systemctl list-unit-files --no-legend --no-pager "$@" 2>/dev/null; exit 0', 'sh', ...unitNames], { allowFailure: true }),
    s.exec.run(['du', '-sb', '--', dataDir], { allowFailure: true, timeoutMs: 120_000 }),
    image ? s.exec.run(['docker', 'image', 'inspect', '--format', '{{.Id}}', image], { allowFailure: true }) : Promise.resolve({ code: 1 }),
  ]);
  const firewallRules = await ourUfwRules(s);
  const containers = all.filter((c) => belongsTo(c.labels ?? {}, s.dir)).map((c) => ({ id: c.id, service: c.service, state: c.state }));
  const units: string[] = unitNames.filter((u) => present.has(posix.join(SYSTEMD_DIR, u)));
  for (const u of unitNames) if (listed.stdout.split('\n').some((l) => l.split(/\s+/)[0] === u) && !units.includes(u)) units.push(u);
  if (imageCheck.code !== 0) image = undefined;

  // Containers alone do not make a deployment: another directory may use the same project name.
  const anything = record || present.size > 0;
  if (!anything) throw new NoDeploymentError(s.dir, s.hostName);

  const remove: DestroyItem[] = GENERATED.filter((g) => present.has(s.path(g.rel))).map((g) => ({ path: s.path(g.rel), what: g.what }));
  const keep: DestroyItem[] = [];
  const dataItem: DestroyItem = { path: dataDir, what: 'image data' };
  const bytes = Number.parseInt(du.stdout, 10);
  if (du.code === 0 && Number.isFinite(bytes)) dataItem.bytes = bytes;
  const precious = PRECIOUS.filter((p) => present.has(s.path(p.rel))).map((p) => ({ path: s.path(p.rel), what: p.what }));
  if (purge) {
    if (present.has(dataDir)) remove.push(dataItem);
    remove.push(...precious);
  } else {
    if (present.has(dataDir)) keep.push(dataItem);
    keep.push(...precious);
    // the registry image: kept for a quick re-deploy, removed by --purge
    if (image) keep.push({ path: `image ${image}`, what: 'registry image (deploy reuses it)' });
  }
  // Other hosts may serve the same bucket: destroy never deletes from it, not even with --purge.
  if (storage) keep.push({ path: storage, what: 'image data in the bucket (destroy never deletes it)' });
  return {
    dir: s.dir,
    dataDir,
    ...(storage ? { storage } : {}),
    domain,
    version,
    alreadyDestroyed: !record,
    containers,
    composeFile: present.has(s.path(HOST_LAYOUT.compose)),
    image,
    units,
    firewallRules,
    remove,
    keep,
  };
}

async function ourUfwRules(s: HostSession): Promise<string[]> {
  const status = await s.exec.run(['sh', '-c', 'command -v ufw >/dev/null 2>&1 || exit 0; ufw status numbered; exit 0'], { allowFailure: true });
  const comment = `# ${ufwRuleComment(s.project)}`;
  return status.stdout.split('\n').filter((l) => l.trimEnd().endsWith(comment)).map((l) => l.replace(/^\[\s*\d+\]\s*/, '').replace(/\s+/g, ' ').trim());
}

/** How a ufw rule of ours is listed among what destroy removed. */
export function firewallItems(plan: Pick<DestroyPlan, 'firewallRules'>): DestroyItem[] {
  return plan.firewallRules.map((rule) => ({ path: `ufw rule ${rule}`, what: 'firewall rule' }));
}

/** A compose container of this install directory (compose records where its file was); unlabelled ones count. */
function belongsTo(labels: Record<string, string>, dir: string): boolean {
  const workingDir = labels['com.docker.compose.project.working_dir'];
  const files = labels['com.docker.compose.project.config_files'];
  if (workingDir === undefined && files === undefined) return true;
  return workingDir === dir || (files ?? '').split(',').includes(posix.join(dir, HOST_LAYOUT.compose));
}

/** Carries out a plan; every part tolerates what an earlier run already removed. */
export async function executeDestroy(s: HostSession, plan: DestroyPlan, purge: boolean, output: Output): Promise<DestroyResult> {
  const removed: DestroyItem[] = [];
  const exec = s.exec;

  await output.step('containers', 'Stop and remove the containers and their network', async () => {
    if (plan.composeFile) {
      try {
        const kind = await detectCompose(exec);
        await exec.run(composeDownArgv({ kind, dir: s.dir, project: s.project }));
      } catch (err) {
        // no compose (any more): remove by label below
        output.warn(`compose down failed (${(err as Error).message.split('\n')[0]}); removing the containers directly`);
      }
    }
    const left = (await listContainers(exec, s.project)).filter((c) => belongsTo(c.labels ?? {}, s.dir));
    if (left.length) await exec.run(['docker', 'rm', '-f', ...left.map((c) => c.id)]);
    const network = `${s.project}_default`;
    const net = await exec.run(['docker', 'network', 'rm', network], { allowFailure: true });
    for (const c of plan.containers) removed.push({ path: `container ${c.service} (${c.id.slice(0, 12)})`, what: `${c.state} container` });
    if (plan.containers.length || net.code === 0) removed.push({ path: `network ${network}`, what: 'compose network' });
    return { status: plan.containers.length ? ('done' as const) : ('unchanged' as const), detail: plan.containers.length ? `${plan.containers.length} removed` : 'none left' };
  });

  if (purge) await output.step('image', 'Remove the registry image', async () => {
    if (!plan.image) return { status: 'unchanged' as const, detail: 'not present' };
    const rm = await exec.run(['docker', 'image', 'rm', plan.image], { allowFailure: true });
    if (rm.code === 0) {
      removed.push({ path: `image ${plan.image}`, what: 'registry image' });
      return { status: 'done' as const, detail: plan.image };
    }
    const why = /No such image/i.test(rm.stderr) ? 'not present' : /conflict|in use|being used/i.test(rm.stderr) ? 'kept: another container uses it' : `kept: ${rm.stderr.trim().split('\n').slice(-1)[0]}`;
    return { status: 'unchanged' as const, detail: why };
  });

  await output.step('timer', 'Disable the timers (certificate renewal, retention)', async () => {
    if (plan.units.length === 0) return { status: 'unchanged' as const, detail: 'none installed' };
    await exec.run(['systemctl', 'disable', '--now', ...plan.units], { allowFailure: true });
    const files = plan.units.map((u) => posix.join(SYSTEMD_DIR, u));
    await exec.run(['rm', '-f', '--', ...files]);
    await exec.run(['systemctl', 'daemon-reload'], { allowFailure: true });
    for (const u of plan.units) removed.push({ path: `systemd unit ${u}`, what: unitPurpose(u) });
    return { status: 'done' as const, detail: plan.units.join(', ') };
  });

  if (plan.firewallRules.length) await output.step('firewall', 'Remove the firewall rules (ufw)', async () => {
    await exec.run(ufwRemoveArgv(s.project));
    removed.push(...firewallItems(plan));
    return { status: 'done' as const, detail: `${plan.firewallRules.length} removed` };
  });

  await output.step('files', purge ? 'Delete the files, image data and certificates' : 'Delete the generated files', async () => {
    const paths = plan.remove.filter((i) => i.path !== plan.dataDir).map((i) => i.path);
    if (paths.length) await exec.run(['rm', '-rf', '--', ...paths]);
    const data = plan.remove.find((i) => i.path === plan.dataDir);
    if (data) {
      // Only the registry's own content: a data directory set to a shared place keeps everything else.
      await exec.run(['rm', '-rf', '--', posix.join(plan.dataDir, 'docker')]);
      if (!NEVER_REMOVE.has(plan.dataDir)) await exec.run(['rmdir', '--ignore-fail-on-non-empty', '--', plan.dataDir], { allowFailure: true });
    }
    removed.push(...plan.remove);
    if (!purge) {
      // a note for a later destroy (--purge) or deploy: where the kept data is
      const note = { destroyedAt: new Date().toISOString(), registrySetupVersion: plan.version, domain: plan.domain, dataDir: plan.dataDir, storage: plan.storage };
      if (plan.keep.length) await s.host.upload(s.path(DESTROYED_RECORD), `${JSON.stringify(note, null, 2)}\n`, { mode: 0o644, sudo: true });
    } else {
      await exec.run(['rmdir', '--ignore-fail-on-non-empty', '--', s.dir], { allowFailure: true });
    }
    return { status: plan.remove.length ? ('done' as const) : ('unchanged' as const), detail: plan.remove.length ? `${plan.remove.length} removed` : 'nothing left to remove' };
  });
  return { removed, kept: plan.keep, purged: purge, dryRun: false };
}
