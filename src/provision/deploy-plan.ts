// What deploy and upgrade run on a host, decided by pure code from what was observed there (the
// files this run changed, the containers before it, whether the image exists). The orchestrators
// (src/deploy/deploy.ts, src/ops/upgrade.ts) observe, call these, and run the argv they return;
// tests assert the same argv for each situation without a host.
import { posix } from 'node:path';
import { HOST_LAYOUT } from '../host/contract.js';
import { registryImageTag } from '../templates/render.js';
import { composeArgv, nginxReloadArgv, type ComposeTarget } from './docker.js';
import { isBuildInput } from './deployment.js';
import { isNotifyFile } from './notify.js';
import type { Argv } from './step.js';

/** What a plan needs to know about one container of the stack (src/deploy/stack.ts reads it). */
export interface ContainerFact {
  service: string;
  state: string;
  image: string;
}

/** Host files that start-up reads once: a change recreates the registry (compose would not notice). */
const REGISTRY_START_FILES = [HOST_LAYOUT.uploadSecret, HOST_LAYOUT.s3Credentials, HOST_LAYOUT.s3Ca] as const;

function changedRel(target: ComposeTarget, changedFiles: readonly string[], rel: string): boolean {
  return changedFiles.includes(posix.join(target.dir.replace(/\/+$/, '') || '/', rel));
}

/** The mirrors' upstream credentials are read at start too (one file per mirror, under their directory). */
function mirrorCredentialsChanged(target: ComposeTarget, changedFiles: readonly string[]): boolean {
  const dir = `${posix.join(target.dir.replace(/\/+$/, '') || '/', HOST_LAYOUT.mirrorCredentialsDir)}/`;
  return changedFiles.some((p) => p.startsWith(dir));
}

function container(containers: readonly ContainerFact[], service: string): ContainerFact | undefined {
  return containers.find((c) => c.service === service);
}

function running(containers: readonly ContainerFact[]): boolean {
  return container(containers, 'registry')?.state === 'running' && container(containers, 'nginx')?.state === 'running';
}

export interface StartInput {
  target: ComposeTarget;
  /** registry-setup version: the image tag */
  version: string;
  /** whether compose was there (or installed) this run: false only in a dry run on a host without Docker */
  composeInstalled: boolean;
  /** host paths this run wrote (created or updated) */
  changedFiles: readonly string[];
  /** the stack's containers before the start */
  containers: readonly ContainerFact[];
  /** whether the image exists on the host; only read when startNeedsImageCheck says so */
  imagePresent?: boolean;
}

/** Whether the start plan depends on the image being on the host (otherwise it is built anyway). */
export function startNeedsImageCheck(i: Omit<StartInput, 'imagePresent' | 'containers'>): boolean {
  return i.composeInstalled && !i.changedFiles.some((p) => isBuildInput(i.target.dir, p));
}

export interface StartPlan {
  build: boolean;
  /** the registry alone, forced: its start-up files changed */
  recreate: boolean;
  up: boolean;
  /** in this order */
  commands: Argv[];
  /** the step's detail line when it runs (dry run: what it would do) */
  detail: string | undefined;
  dryRunDetail: string;
}

/**
 * Deploy's "build and start": the image is built when its inputs changed or it is missing; the
 * stack is brought up when something compose reads changed or it does not run; the registry is
 * recreated alone when a file it reads once at start changed.
 */
export function startPlan(i: StartInput): StartPlan {
  const image = registryImageTag(i.version);
  const build = !startNeedsImageCheck(i) || i.imagePresent !== true;
  const up = build || changedRel(i.target, i.changedFiles, HOST_LAYOUT.compose) || !running(i.containers);
  const startFileChanged = REGISTRY_START_FILES.some((rel) => changedRel(i.target, i.changedFiles, rel)) || mirrorCredentialsChanged(i.target, i.changedFiles) || i.changedFiles.some((p) => isNotifyFile(i.target.dir, p));
  const recreate = startFileChanged && container(i.containers, 'registry') !== undefined;
  const commands: Argv[] = [];
  if (build) commands.push(composeArgv(i.target, 'build', 'registry'));
  if (recreate) commands.push(composeArgv(i.target, 'up', '-d', '--no-deps', '--force-recreate', 'registry'));
  if (up) commands.push(composeArgv(i.target, 'up', '-d', '--remove-orphans'));
  return {
    build,
    recreate,
    up,
    commands,
    detail: build ? `built ${image}` : recreate ? 'registry recreated (new secret or credentials)' : undefined,
    dryRunDetail: build ? 'build and start' : 'start',
  };
}

export interface NginxReloadInput {
  target: ComposeTarget;
  /** nginx ran before this run changed anything (a container started now reads the new files itself) */
  nginxRunning: boolean;
  /** host paths this run wrote */
  changedFiles: readonly string[];
  /** the certificate or key in tls/ changed */
  tlsChanged: boolean;
  /** the registry container was recreated: nginx's upstream address is resolved at (re)load only */
  registryRecreated: boolean;
}

/**
 * The one nginx reload decision: nginx reads its configuration and certificate at (re)load and
 * resolves the registry's address then, so a running nginx is reloaded when any of them changed.
 * Returns the argv to run (none when nothing needs it).
 */
export function nginxReloadPlan(i: NginxReloadInput): Argv[] {
  const needed = i.nginxRunning && (i.tlsChanged || i.registryRecreated || changedRel(i.target, i.changedFiles, HOST_LAYOUT.nginxConf));
  return needed ? [nginxReloadArgv(i.target)] : [];
}

export interface UpgradeRestartInput {
  target: ComposeTarget;
  version: string;
  changedFiles: readonly string[];
  containers: readonly ContainerFact[];
  /** nginx's service in compose.yaml changed (not only the registry's) */
  nginxServiceChanged: boolean;
}

export interface UpgradeRestartPlan {
  needed: boolean;
  /** in this order; the health check follows them */
  commands: Argv[];
  /** an nginx.conf change still needs a reload when the registry is not restarted */
  reloadOnly: Argv[];
}

/**
 * Upgrade's swap: only the registry is recreated (forced: a new upload secret alone changes nothing
 * compose would notice) while nginx keeps its clients; nginx is then reloaded (it resolves the
 * registry's address again) and recreated only when its own service changed.
 */
export function upgradeRestartPlan(i: UpgradeRestartInput): UpgradeRestartPlan {
  const image = registryImageTag(i.version);
  const registry = container(i.containers, 'registry');
  const changed = (rel: string) => changedRel(i.target, i.changedFiles, rel);
  const buildInputs = i.changedFiles.some((p) => isBuildInput(i.target.dir, p));
  const needed = !registry || registry.state !== 'running' || registry.image !== image || changed(HOST_LAYOUT.compose) || changed(HOST_LAYOUT.uploadSecret) || buildInputs;
  const commands: Argv[] = needed
    ? [
        composeArgv(i.target, 'up', '-d', '--no-deps', '--force-recreate', 'registry'),
        ...nginxReloadPlan({ target: i.target, nginxRunning: true, changedFiles: i.changedFiles, tlsChanged: false, registryRecreated: true }),
        ...(i.nginxServiceChanged ? [composeArgv(i.target, 'up', '-d', '--no-deps', 'nginx')] : []),
      ]
    : [];
  const reloadOnly = needed ? [] : nginxReloadPlan({ target: i.target, nginxRunning: true, changedFiles: i.changedFiles, tlsChanged: false, registryRecreated: false });
  return { needed, commands, reloadOnly };
}
