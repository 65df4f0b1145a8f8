// What `destroy` removes and keeps on a host, and the commands that do it, decided by pure code from
// what was observed there (the deployment record or the note an earlier destroy left, which paths
// exist, the containers, units, image and firewall rules). src/ops/destroy.ts observes, calls these
// and runs the steps through the executor; test/provision/destroy-plan.test.ts asserts them
// without a host.
import { posix } from 'node:path';
import { HOST_LAYOUT, RETENTION_LAYOUT } from '../host/contract.js';
import { registryImageTag } from '../templates/render.js';
import { isVersion } from '../settings/rules.js';
import { composeDownArgv, type ComposeTarget } from './docker.js';
import { ufwRemoveArgv } from './firewall.js';
import { renewalUnitName, SYSTEMD_DIR } from './renewal.js';
import { retentionUnitName } from './retention.js';
import type { Argv, FileSpec } from './step.js';

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

/** Where the deployment's data is and what it was, from its record or an earlier destroy's note. */
export interface DestroyTarget {
  dir: string;
  project: string;
  dataDir: string;
  /** the bucket holding the images (never touched by destroy) */
  storage?: string;
  domain?: string;
  version?: string;
  /** the registry image of that version (whether it exists is observed) */
  image?: string;
  /** no registry-setup.json: an earlier destroy already ran (kept data, tls/ or state/ are left) */
  alreadyDestroyed: boolean;
}

/** The deployment record's fields destroy reads. */
export interface DeployedRecordFacts {
  dataDir?: string;
  storage?: string;
  domain?: string;
  version?: string;
}

/**
 * From the record, or without one from the note an earlier destroy wrote (state/destroyed.json,
 * `note`; a damaged note falls back to the default data directory).
 */
export function destroyTarget(dir: string, project: string, record: DeployedRecordFacts | undefined, note?: string): DestroyTarget {
  let dataDir = record?.dataDir ?? `${dir}/data`;
  let { storage, domain, version } = record ?? {};
  if (!record && note) {
    try {
      const doc = JSON.parse(note) as { dataDir?: string; storage?: string; domain?: string; registrySetupVersion?: string };
      if (typeof doc.dataDir === 'string' && doc.dataDir.startsWith('/')) dataDir = doc.dataDir;
      if (typeof doc.storage === 'string') storage = doc.storage;
      if (typeof doc.domain === 'string') domain = doc.domain;
      if (typeof doc.registrySetupVersion === 'string') version = doc.registrySetupVersion;
    } catch {
      // a damaged note: fall back to the default data directory
    }
  }
  dataDir = dataDir.length > 1 ? dataDir.replace(/\/+$/, '') : dataDir;
  // the version is the host record's: an unusable one names no image
  const image = version && isVersion(version) ? registryImageTag(version) : undefined;
  return { dir, project, dataDir, ...(storage ? { storage } : {}), domain, version, image, alreadyDestroyed: !record };
}

const hostPath = (dir: string, rel: string) => posix.join(dir, rel);

/** The paths whose presence the plan depends on. */
export function destroyCandidates(t: DestroyTarget): string[] {
  return [
    ...GENERATED.map((g) => hostPath(t.dir, g.rel)),
    ...PRECIOUS.map((p) => hostPath(t.dir, p.rel)),
    t.dataDir,
    ...renewUnits(t.project).map((u) => posix.join(SYSTEMD_DIR, u)),
  ];
}

/** One container of the compose project, with its labels (to tell whose install directory it is). */
export interface DestroyContainerFact {
  id: string;
  service: string;
  state: string;
  labels?: Record<string, string>;
}

/** What was observed on the host besides the target. */
export interface DestroyFacts {
  /** which of destroyCandidates exist */
  present: ReadonlySet<string>;
  containers: readonly DestroyContainerFact[];
  /** unit names systemd knows (it may know them from elsewhere too, e.g. /lib/systemd/system) */
  knownUnits: readonly string[];
  /** `du -sb` of the data directory, when it answered */
  dataBytes?: number;
  imagePresent: boolean;
  /** our ufw rules (`ufw status numbered` lines carrying the deployment's comment) */
  firewallRules: string[];
}

export interface DestroyPlan {
  dir: string;
  dataDir: string;
  storage?: string;
  domain?: string;
  version?: string;
  alreadyDestroyed: boolean;
  containers: { id: string; service: string; state: string }[];
  composeFile: boolean;
  /** the registry image, when it exists (kept unless --purge) */
  image?: string;
  units: string[];
  firewallRules: string[];
  remove: DestroyItem[];
  keep: DestroyItem[];
}

/** A compose container of this install directory (compose records where its file was); unlabelled ones count. */
export function belongsTo(labels: Record<string, string>, dir: string): boolean {
  const workingDir = labels['com.docker.compose.project.working_dir'];
  const files = labels['com.docker.compose.project.config_files'];
  if (workingDir === undefined && files === undefined) return true;
  return workingDir === dir || (files ?? '').split(',').includes(posix.join(dir, HOST_LAYOUT.compose));
}

/** What to remove and keep; null when the directory holds nothing of ours (no deployment). */
export function decideDestroy(t: DestroyTarget, f: DestroyFacts, purge: boolean): DestroyPlan | null {
  const unitNames = renewUnits(t.project);
  const units = unitNames.filter((u) => f.present.has(posix.join(SYSTEMD_DIR, u)));
  for (const u of unitNames) if (f.knownUnits.includes(u) && !units.includes(u)) units.push(u);
  // Containers alone do not make a deployment: another directory may use the same project name.
  if (t.alreadyDestroyed && f.present.size === 0) return null;
  const image = f.imagePresent ? t.image : undefined;
  const remove: DestroyItem[] = GENERATED.filter((g) => f.present.has(hostPath(t.dir, g.rel))).map((g) => ({ path: hostPath(t.dir, g.rel), what: g.what }));
  const keep: DestroyItem[] = [];
  const dataItem: DestroyItem = { path: t.dataDir, what: 'image data', ...(f.dataBytes !== undefined ? { bytes: f.dataBytes } : {}) };
  const precious = PRECIOUS.filter((p) => f.present.has(hostPath(t.dir, p.rel))).map((p) => ({ path: hostPath(t.dir, p.rel), what: p.what }));
  if (purge) {
    if (f.present.has(t.dataDir)) remove.push(dataItem);
    remove.push(...precious);
  } else {
    if (f.present.has(t.dataDir)) keep.push(dataItem);
    keep.push(...precious);
    // the registry image: kept for a quick re-deploy, removed by --purge
    if (image) keep.push({ path: `image ${image}`, what: 'registry image (deploy reuses it)' });
  }
  // Other hosts may serve the same bucket: destroy never deletes from it, not even with --purge.
  if (t.storage) keep.push({ path: t.storage, what: 'image data in the bucket (destroy never deletes it)' });
  return {
    dir: t.dir,
    dataDir: t.dataDir,
    ...(t.storage ? { storage: t.storage } : {}),
    domain: t.domain,
    version: t.version,
    alreadyDestroyed: t.alreadyDestroyed,
    containers: f.containers.filter((c) => belongsTo(c.labels ?? {}, t.dir)).map((c) => ({ id: c.id, service: c.service, state: c.state })),
    composeFile: f.present.has(hostPath(t.dir, HOST_LAYOUT.compose)),
    image,
    units,
    firewallRules: f.firewallRules,
    remove,
    keep,
  };
}

/** How a ufw rule of ours is listed among what destroy removed. */
export function firewallItems(plan: Pick<DestroyPlan, 'firewallRules'>): DestroyItem[] {
  return plan.firewallRules.map((rule) => ({ path: `ufw rule ${rule}`, what: 'firewall rule' }));
}

/** A command of a destroy step; `allowFailure`: what it removes may be gone already, the step goes on. */
export interface DestroyCommand {
  argv: Argv;
  allowFailure?: boolean;
}

/**
 * One step of destroy. The containers step runs `compose down` first (when there is a compose file
 * and compose answers), then removes the containers still left and the network; the image step
 * reads `docker image rm`'s answer (imageRemovalDetail).
 */
export interface DestroyStep {
  id: 'containers' | 'image' | 'timer' | 'firewall' | 'files';
  name: string;
  commands: DestroyCommand[];
  files?: FileSpec[];
  /** what the step removes when its commands succeed */
  removes: DestroyItem[];
  status: 'done' | 'unchanged';
  detail: string;
}

export interface DestroyStepsInput {
  plan: DestroyPlan;
  project: string;
  purge: boolean;
  /** the time written into the note for a later destroy */
  now: Date;
}

/** The compose project's network, removed after its containers. */
export const composeNetwork = (project: string) => `${project}_default`;

/** `compose down` for the containers step (when there is a compose file and compose answers). */
export function destroyComposeDownArgv(target: ComposeTarget): Argv {
  return composeDownArgv(target);
}

/** Removes the containers still left after compose down (or without compose), and the network. */
export function leftoverRemovalCommands(leftIds: readonly string[], project: string): DestroyCommand[] {
  return [...(leftIds.length ? [{ argv: ['docker', 'rm', '-f', ...leftIds] }] : []), { argv: ['docker', 'network', 'rm', composeNetwork(project)], allowFailure: true }];
}

/** Every step of destroy in order, with the commands that carry it out. */
export function destroySteps(i: DestroyStepsInput): DestroyStep[] {
  const { plan, project, purge } = i;
  const steps: DestroyStep[] = [];
  const n = plan.containers.length;
  steps.push({
    id: 'containers',
    name: 'Stop and remove the containers and their network',
    commands: [],
    removes: plan.containers.map((c) => ({ path: `container ${c.service} (${c.id.slice(0, 12)})`, what: `${c.state} container` })),
    status: n ? 'done' : 'unchanged',
    detail: n ? `${n} removed` : 'none left',
  });
  if (purge) {
    steps.push({
      id: 'image',
      name: 'Remove the registry image',
      commands: plan.image ? [{ argv: ['docker', 'image', 'rm', plan.image], allowFailure: true }] : [],
      removes: plan.image ? [{ path: `image ${plan.image}`, what: 'registry image' }] : [],
      status: plan.image ? 'done' : 'unchanged',
      detail: plan.image ?? 'not present',
    });
  }
  steps.push({
    id: 'timer',
    name: 'Disable the timers (certificate renewal, retention)',
    commands: plan.units.length
      ? [
          { argv: ['systemctl', 'disable', '--now', ...plan.units], allowFailure: true },
          { argv: ['rm', '-f', '--', ...plan.units.map((u) => posix.join(SYSTEMD_DIR, u))] },
          { argv: ['systemctl', 'daemon-reload'], allowFailure: true },
        ]
      : [],
    removes: plan.units.map((u) => ({ path: `systemd unit ${u}`, what: unitPurpose(u) })),
    status: plan.units.length ? 'done' : 'unchanged',
    detail: plan.units.length ? plan.units.join(', ') : 'none installed',
  });
  if (plan.firewallRules.length) {
    steps.push({
      id: 'firewall',
      name: 'Remove the firewall rules (ufw)',
      commands: [{ argv: ufwRemoveArgv(project) }],
      removes: firewallItems(plan),
      status: 'done',
      detail: `${plan.firewallRules.length} removed`,
    });
  }
  const paths = plan.remove.filter((r) => r.path !== plan.dataDir).map((r) => r.path);
  const data = plan.remove.some((r) => r.path === plan.dataDir);
  const commands: DestroyCommand[] = [];
  if (paths.length) commands.push({ argv: ['rm', '-rf', '--', ...paths] });
  if (data) {
    // Only the registry's own content: a data directory set to a shared place keeps everything else.
    commands.push({ argv: ['rm', '-rf', '--', posix.join(plan.dataDir, 'docker')] });
    if (!NEVER_REMOVE.has(plan.dataDir)) commands.push({ argv: ['rmdir', '--ignore-fail-on-non-empty', '--', plan.dataDir], allowFailure: true });
  }
  const files: FileSpec[] = [];
  if (!purge && plan.keep.length) {
    // a note for a later destroy (--purge) or deploy: where the kept data is
    const note = { destroyedAt: i.now.toISOString(), registrySetupVersion: plan.version, domain: plan.domain, dataDir: plan.dataDir, storage: plan.storage };
    files.push({ path: hostPath(plan.dir, DESTROYED_RECORD), content: `${JSON.stringify(note, null, 2)}\n`, mode: 0o644 });
  }
  if (purge) commands.push({ argv: ['rmdir', '--ignore-fail-on-non-empty', '--', plan.dir], allowFailure: true });
  steps.push({
    id: 'files',
    name: purge ? 'Delete the files, image data and certificates' : 'Delete the generated files',
    commands,
    files,
    removes: plan.remove,
    status: plan.remove.length ? 'done' : 'unchanged',
    detail: plan.remove.length ? `${plan.remove.length} removed` : 'nothing left to remove',
  });
  return steps;
}

/** The image step's outcome from `docker image rm`: removed, or why it was kept. */
export function imageRemovalDetail(rm: { code: number; stderr: string }, image: string): { removed: boolean; detail: string } {
  if (rm.code === 0) return { removed: true, detail: image };
  const why = /No such image/i.test(rm.stderr) ? 'not present' : /conflict|in use|being used/i.test(rm.stderr) ? 'kept: another container uses it' : `kept: ${rm.stderr.trim().split('\n').slice(-1)[0]}`;
  return { removed: false, detail: why };
}
