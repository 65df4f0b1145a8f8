import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { parseDuration } from '../config.js';
import { formatBytes } from '../format-bytes.js';
import { openStorageFromFlags } from '../storage/open.js';
import { collectGarbage, type GcReport } from '../gc/collect.js';
import { GC_OPTION_HELP, type GcOutput } from '../gc/gc-command.js';
import { applyRetention, type RetentionReport } from './apply.js';
import { readRetentionFile } from './policy.js';

interface RetentionFlags {
  data?: string;
  storage?: string;
  s3Credentials?: string;
  policy: string;
  dryRun?: boolean;
  json?: boolean;
  grace: string;
  settle?: string;
  stateFile?: string;
}

/** What `metrics` and `status` read for the last run (retention.json). */
export interface RetentionStateRecord {
  time: string;
  ok: boolean;
  error?: string;
  dryRun: boolean;
  deletedTags: number;
  deletedManifests: number;
  freedBytes: number;
  durationMs: number;
}

const processOutput: GcOutput = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

async function writeState(file: string, record: RetentionStateRecord): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
  await fs.rename(tmp, file);
}

function human(report: RetentionReport, gc: GcReport | null, where: string): string {
  const verb = report.dryRun ? 'would remove' : 'removed';
  const lines = [`retention on ${where}${report.dryRun ? ' (dry run: nothing was removed)' : ''}`];
  for (const t of report.removedTags) lines.push(`  ${verb} ${t.repository}:${t.tag}  ${t.digest}  pushed ${t.pushedAt}  ${formatBytes(t.size)}`);
  lines.push(`  ${verb}: ${report.removedTags.length} tag(s), ${report.removedManifests.length} untagged manifest(s)`);
  if (report.dryRun) {
    const upTo = report.removedTags.reduce((a, t) => a + t.size, 0);
    lines.push(`  would free up to ${formatBytes(upTo)} (layers other images share stay)`);
  } else if (gc) lines.push(`  gc freed ${formatBytes(gc.freedBytes)} (${gc.deletedBlobs.length} blob(s))`);
  if (report.keptForRacingPush > 0) lines.push(`  left ${report.keptForRacingPush} link(s) in place: their repository was pushed to during the run`);
  lines.push(`  "pushed at" is the tag link's modification time (distribution's data included)`);
  return `${lines.join('\n')}\n`;
}

/** Retention rules, then (unless a dry run) the online gc that frees what they released. */
export async function runRetention(flags: RetentionFlags, out: GcOutput = processOutput): Promise<{ retention: RetentionReport; gc: GcReport | null }> {
  const rules = readRetentionFile(flags.policy);
  const graceMs = parseDuration(flags.grace ?? '1h', '--grace');
  const settleMs = flags.settle === undefined ? undefined : parseDuration(flags.settle, '--settle');
  const driver = await openStorageFromFlags(flags, { writable: !flags.dryRun });
  const where = driver.describe();
  const started = Date.now();
  let retention: RetentionReport | undefined;
  let gc: GcReport | null = null;
  try {
    retention = await applyRetention({ driver, rules, dryRun: flags.dryRun, settleMs, log: (l) => out.stderr(`${l}\n`) });
    if (!flags.dryRun) gc = await collectGarbage({ driver, graceMs, settleMs, log: (l) => out.stderr(`gc: ${l}\n`) });
  } catch (err) {
    if (flags.stateFile) {
      await writeState(flags.stateFile, {
        time: new Date().toISOString(),
        ok: false,
        error: (err as Error).message,
        dryRun: Boolean(flags.dryRun),
        deletedTags: retention?.removedTags.length ?? 0,
        deletedManifests: retention?.removedManifests.length ?? 0,
        freedBytes: 0,
        durationMs: Date.now() - started,
      });
    }
    throw err;
  } finally {
    driver.close?.();
  }
  if (flags.stateFile) {
    await writeState(flags.stateFile, {
      time: new Date().toISOString(),
      ok: true,
      dryRun: Boolean(flags.dryRun),
      deletedTags: retention.removedTags.length,
      deletedManifests: retention.removedManifests.length,
      freedBytes: gc?.freedBytes ?? 0,
      durationMs: Date.now() - started,
    });
  }
  if (flags.json) out.stdout(`${JSON.stringify({ retention, gc }, null, 2)}\n`);
  else out.stdout(human(retention, gc, where));
  return { retention, gc };
}

export function retentionCommand(out: GcOutput = processOutput): Command {
  return new Command('retention')
    .description('remove the tags retention rules (zot\'s shape) do not keep, then collect garbage; safe while the registry runs')
    .requiredOption('--policy <file>', 'the retention rules: a YAML or JSON file holding zot\'s retention section (policies: …)')
    .option('--data <dir>', GC_OPTION_HELP.data)
    .option('--storage <url>', 'work on a bucket: s3://bucket/prefix?endpoint=… (or REGISTRY_STORAGE_URL)')
    .option('--s3-credentials <file>', 'S3 credentials file (access_key_id / secret_access_key), or - for stdin')
    .option('--dry-run', 'list what would go (repository, tag, digest, pushed at, size), remove nothing')
    .option('--json', 'print the report as JSON on stdout')
    .option('--grace <duration>', 'the gc after the rules: ' + GC_OPTION_HELP.grace, '1h')
    .option('--settle <duration>', GC_OPTION_HELP.settle)
    .option('--state-file <path>', 'also write a result record (JSON) here, for status and metrics (retention.json)')
    .action(async (flags: RetentionFlags) => {
      await runRetention(flags, out);
    });
}
