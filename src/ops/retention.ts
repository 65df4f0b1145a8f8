// `retention`: the payload's own retention command (rules, then the online gc), run either on a
// deployment (in a throw-away container of compose.yaml's retention service, with the rules deploy
// wrote there) or here on a data directory (the payload bundle run by this Node). The registry
// keeps serving meanwhile.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { GcReport } from '../registry/gc/collect.js';
import type { RetentionReport } from '../registry/retention/apply.js';
import { formatBytes } from '../registry/format-bytes.js';
import { RETENTION_CONTAINER_PATHS, RETENTION_LAYOUT } from '../host/contract.js';
import { retentionRunArgv } from '../provision/retention.js';
import { packageRoot } from '../version.js';
import type { Deployment } from './deployment.js';
import { OpsError } from './errors.js';

export class RetentionError extends OpsError {}

/** What the payload's `retention --json` prints. */
export interface RetentionRun {
  retention: RetentionReport;
  gc: GcReport | null;
}

/** The `result` of `retention --json`: what went (or would go) and the bytes freed (or that would be). */
export function retentionResult(run: RetentionRun): Record<string, unknown> {
  const r = run.retention;
  return {
    dryRun: r.dryRun,
    removedTags: r.removedTags,
    removedManifests: r.removedManifests,
    ...(r.dryRun ? { wouldFreeBytes: wouldFree(r) } : { freedBytes: run.gc?.freedBytes ?? 0, deletedBlobs: run.gc?.deletedBlobs.length ?? 0 }),
    keptForRacingPush: r.keptForRacingPush,
    pushedAtSource: r.pushedAtSource,
  };
}

/** The removed tags' sizes (manifest, config, layers), each digest once: layers other images share may stay. */
function wouldFree(r: RetentionReport): number {
  return r.removedTags.reduce((a, t) => a + t.size, 0);
}

/** The human summary: one line per tag (repository, tag, digest, pushed at, size), then the totals. */
export function retentionSummary(run: RetentionRun, where: string): string {
  const r = run.retention;
  const verb = r.dryRun ? 'would remove' : 'removed';
  const lines = [`Retention in ${where}${r.dryRun ? ' (dry run: nothing was removed)' : ''}:`];
  for (const t of r.removedTags) lines.push(`  ${verb} ${t.repository}:${t.tag}  ${t.digest}  pushed ${t.pushedAt}  ${formatBytes(t.size)}`);
  for (const m of r.removedManifests) lines.push(`  ${verb} untagged ${m.repository}@${m.digest}`);
  lines.push(`  ${r.removedTags.length} tag(s) and ${r.removedManifests.length} untagged manifest(s) ${r.dryRun ? 'would go' : 'removed'}`);
  if (r.dryRun) lines.push(`  would free up to ${formatBytes(wouldFree(r))} (layers other images share stay)`);
  else lines.push(`  gc freed ${formatBytes(run.gc?.freedBytes ?? 0)} (${run.gc?.deletedBlobs.length ?? 0} blob(s))`);
  if (r.keptForRacingPush > 0) lines.push(`  left ${r.keptForRacingPush} link(s) in place: their repository was pushed to during the run (the next run decides)`);
  lines.push('  "pushed at" is the tag link\'s modification time (for data written by distribution too)');
  return `${lines.join('\n')}\n`;
}

function parseRun(stdout: string, where: string): RetentionRun {
  try {
    const doc = JSON.parse(stdout) as RetentionRun;
    if (doc && typeof doc === 'object' && doc.retention && Array.isArray(doc.retention.removedTags)) return doc;
  } catch {
    // said below
  }
  throw new RetentionError(`retention on ${where} printed no report (is the registry image older than retention? run registry-setup upgrade)`);
}

const lastLine = (stderr: string, code: number | null) => (stderr.trim().split('\n').slice(-1)[0] || `exit code ${code}`).replace(/^registry: /, '');

/**
 * On a deployment: the rules deploy wrote (<dir>/retention.yaml), in a container of the retention
 * service; a real run is recorded in state/retention.json like the timer's.
 */
export async function runRemoteRetention(d: Deployment, o: { dryRun?: boolean }): Promise<RetentionRun> {
  const policy = d.path(RETENTION_LAYOUT.policy);
  if ((await d.exec.run(['test', '-f', policy], { allowFailure: true })).code !== 0) {
    throw new RetentionError(`${d.hostName} has no retention rules (${policy}): add a retention: section to registry-setup.yaml and run registry-setup deploy --config registry-setup.yaml`);
  }
  const extra = ['--json', ...(o.dryRun ? ['--dry-run'] : ['--state-file', RETENTION_CONTAINER_PATHS.state])];
  // No time limit: a big registry takes as long as it takes, and the run is safe to interrupt.
  const r = await d.exec.run(retentionRunArgv(d.settings, await d.composeTarget(), extra), { allowFailure: true });
  if (r.code !== 0) throw new RetentionError(`retention failed on ${d.hostName}: ${lastLine(r.stderr, r.code)}`);
  return parseRun(r.stdout, d.hostName);
}

/** The payload bundle shipped in the package (dist/registry/registry.mjs). */
export function payloadBundle(): string {
  return path.join(packageRoot(), 'dist', 'registry', 'registry.mjs');
}

/**
 * Here, on a data directory: the payload's retention command run by this Node
 * (process.execPath), exactly as on a host. Its progress lines go to `log`.
 */
export async function runLocalRetention(o: { data: string; policy: string; dryRun?: boolean; log?: (line: string) => void }): Promise<RetentionRun> {
  if (!existsSync(payloadBundle())) throw new RetentionError(`${payloadBundle()} is missing: run \`npm run build\` in the registry-setup package`);
  const argv = [payloadBundle(), 'retention', '--data', path.resolve(o.data), '--policy', path.resolve(o.policy), '--json', ...(o.dryRun ? ['--dry-run'] : [])];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    stderr += t;
    if (o.log) for (const l of t.split('\n').filter(Boolean)) o.log(l);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new RetentionError(lastLine(stderr, code));
  return parseRun(stdout, o.data);
}
