// The words of `gc`: its option help and its human summary, shared by the payload's `gc` and the
// CLI's (which runs the payload for local collections and prints remote reports itself). No storage
// code here: the CLI bundle imports this module.
import { formatBytes } from '../format-bytes.js';
import { DEFAULT_SETTLE_MS, type GcReport } from './collect.js';

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A duration the way `--grace` takes it: 1h, 30m, 90s, 0s. */
function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3600_000 === 0) return `${ms / 3600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function humanSummary(report: GcReport, dataDir: string): string {
  const lines = [`garbage collection of ${dataDir}${report.dryRun ? ' (dry run: nothing was deleted)' : ''}`];
  lines.push(`  in use: ${plural(report.markedManifests, 'manifest')}, ${plural(report.markedBlobs, 'blob')}`);
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const blobs = report.deletedBlobs.length;
  lines.push(
    blobs === 0
      ? `  ${report.dryRun ? 'would delete' : 'deleted'}: nothing`
      : `  ${verb}: ${plural(blobs, 'blob')}, ${report.dryRun ? 'freeing' : 'freed'} ${formatBytes(report.freedBytes)}`,
  );
  if (report.deletedManifests.length > 0) {
    const repos = new Set(report.deletedManifests.map((m) => m.repo));
    lines.push(`  ${report.dryRun ? 'would remove' : 'removed'}: ${plural(report.deletedManifests.length, 'manifest')} in ${plural(repos.size, 'repository', 'repositories')}`);
  }
  if (report.keptYoung > 0) {
    lines.push(`  kept ${report.keptYoung} unreferenced item(s) younger than the grace window (${formatDuration(report.graceMs)}): a push may still need them`);
  }
  if (report.restored > 0) lines.push(`  kept ${report.restored} item(s) that clients referred to during the run`);
  if (report.removedTempFiles > 0) lines.push(`  ${report.dryRun ? 'would remove' : 'removed'} ${report.removedTempFiles} partial upload file(s) a killed registry left in blob folders`);
  if (report.recovered > 0) lines.push(`  put back ${report.recovered} file(s) from an interrupted earlier run`);
  lines.push(`  took ${formatMs(report.durationMs)}`);
  return `${lines.join('\n')}\n`;
}

export const GC_OPTION_HELP = {
  data: 'data directory in registry:2 layout (default REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY or ./data)',
  dryRun: 'report what would be deleted, delete nothing',
  deleteUntagged: 'also remove manifests no tag reaches (children of tagged indexes and referrers are kept)',
  grace: 'never delete anything modified more recently than this (e.g. 1h, 30m, 0s)',
  settle: `pause between moving items aside and the re-check (default ${DEFAULT_SETTLE_MS / 1000}s)`,
  stateFile: 'also write a result record (JSON) here, for `status`',
  mirrorMaxIdle: 'remove cached content of mirrored repositories nobody pulled from for this long (e.g. 720h)',
} as const;
