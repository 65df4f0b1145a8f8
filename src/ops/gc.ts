// Remote garbage collection: the payload's own `gc` (src/registry/gc) run inside the running
// registry container, so it needs no Node on the host and sees exactly the registry's data mount.
// The registry keeps serving meanwhile (the collector is safe against concurrent pushes).
import type { GcReport } from '../registry/gc/collect.js';
import { containerFor } from '../deploy/stack.js';
import type { Argv } from '../provision/index.js';
import { CONTAINER_PATHS, HOST_LAYOUT, IMAGE_COMMANDS } from '../host/contract.js';
import type { Deployment } from './deployment.js';
import { OpsError } from './errors.js';

export interface RemoteGcOptions {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  /** the payload's default (1h) when absent */
  grace?: string;
  settle?: string;
  /** passed on: the payload forgets mirrored repositories nobody pulled from for this long */
  mirrorMaxIdle?: string;
}

export class GcError extends OpsError {}

/**
 * `node /app/registry.mjs gc --data /var/lib/registry --json [...]`; in a bucket without --data: the
 * container's REGISTRY_STORAGE_URL and REGISTRY_STORAGE_S3_CREDENTIALSFILE say where.
 */
export function gcPayloadArgv(o: RemoteGcOptions, stateFile?: string, inBucket = false): Argv {
  const argv = ['node', CONTAINER_PATHS.registryBundle, IMAGE_COMMANDS.gc, ...(inBucket ? [] : ['--data', CONTAINER_PATHS.data]), '--json'];
  if (o.dryRun) argv.push('--dry-run');
  if (o.deleteUntagged) argv.push('--delete-untagged');
  if (o.grace !== undefined) argv.push('--grace', o.grace);
  if (o.settle !== undefined) argv.push('--settle', o.settle);
  if (o.mirrorMaxIdle !== undefined) argv.push('--mirror-max-idle', o.mirrorMaxIdle);
  if (stateFile) argv.push('--state-file', stateFile);
  return argv;
}

export interface RemoteGcResult {
  report: GcReport;
  /** where the result was recorded on the host (absent for a deployment without the state/ mount) */
  stateFile?: string;
  /** the collector's progress lines */
  log: string[];
}

/** Runs GC in the registry container (`docker exec`); the registry must be running. */
export async function runRemoteGc(d: Deployment, o: RemoteGcOptions): Promise<RemoteGcResult> {
  const registry = containerFor(await d.containers(), 'registry');
  if (!registry || registry.state !== 'running') {
    throw new GcError(`the registry container is not running on ${d.hostName} (${registry ? registry.state : 'missing'}); start it with registry-setup deploy`);
  }
  // Deployments made before the state/ mount existed cannot record the result (read-only root fs).
  const canRecord = (registry.mounts ?? []).includes(CONTAINER_PATHS.stateDir);
  const stateFile = canRecord ? `${CONTAINER_PATHS.stateDir}/gc.json` : undefined;
  const argv = ['docker', 'exec', registry.id, ...gcPayloadArgv(o, stateFile, d.settings.storage !== undefined)];
  // No time limit: a big registry takes as long as it takes, and the collector is safe to interrupt.
  const r = await d.host.exec(argv, { sudo: true, allowFailure: true });
  const log = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('gc: '))
    .map((l) => l.slice(4));
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').filter((l) => !l.startsWith('gc: ')).slice(-1)[0] ?? `exit code ${r.code}`;
    throw new GcError(`gc failed on ${d.hostName}: ${why.replace(/^registry: /, '')}`);
  }
  let report: GcReport;
  try {
    report = JSON.parse(r.stdout) as GcReport;
  } catch {
    throw new GcError(`gc on ${d.hostName} printed no report (is the registry image older than gc? run registry-setup upgrade)`);
  }
  return { report, ...(stateFile ? { stateFile: d.path(HOST_LAYOUT.gcState) } : {}), log };
}
