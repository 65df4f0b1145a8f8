import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { ConfigError, parseDuration } from '../config.js';
import { openStorageFromFlags } from '../storage/open.js';
import { collectGarbage, type GcReport } from './collect.js';
import { GC_OPTION_HELP, humanSummary } from './gc-text.js';

// shared with the CLI's own `gc`, which must not load this module (it opens storage drivers)
export { GC_OPTION_HELP, humanSummary };

interface GcFlags {
  data?: string;
  storage?: string;
  s3Credentials?: string;
  dryRun?: boolean;
  deleteUntagged?: boolean;
  grace: string;
  settle?: string;
  json?: boolean;
  stateFile?: string;
  mirrorMaxIdle?: string;
}

/** Where the command writes; tests pass their own. */
export interface GcOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: GcOutput = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** The record `status` shows for the last collection. */
export interface GcStateRecord {
  time: string;
  ok: boolean;
  error?: string;
  dataDir: string;
  dryRun: boolean;
  deleteUntagged: boolean;
  graceMs: number;
  freedBytes: number;
  deletedBlobs: number;
  deletedManifests: number;
  markedManifests: number;
  markedBlobs: number;
  keptYoung: number;
  restored: number;
  durationMs: number;
}


/**
 * Done before collecting: a record that cannot be written after the deletions would report a run
 * that deleted data as failed, and lose its report.
 */
async function prepareStateFile(file: string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.access(dir, fsConstants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // mkdir says EEXIST when a file has the folder's name
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'it is not a folder' : `${code ?? (err as Error).message}`;
    throw new ConfigError(`--state-file ${file}: cannot write into ${dir} (${why})`);
  }
  if ((await fs.stat(file).catch(() => null))?.isDirectory()) throw new ConfigError(`--state-file ${file} is a directory; give a file name`);
}

/** Replaces the file atomically (temp file + rename) so `status` never reads half a record. */
export async function writeStateFile(file: string, record: GcStateRecord): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

function stateRecord(dataDir: string, flags: { dryRun: boolean; deleteUntagged: boolean; graceMs: number }, report?: GcReport, error?: Error): GcStateRecord {
  return {
    time: new Date().toISOString(),
    ok: !error,
    ...(error ? { error: error.message } : {}),
    dataDir,
    ...flags,
    freedBytes: report?.freedBytes ?? 0,
    deletedBlobs: report?.deletedBlobs.length ?? 0,
    deletedManifests: report?.deletedManifests.length ?? 0,
    markedManifests: report?.markedManifests ?? 0,
    markedBlobs: report?.markedBlobs ?? 0,
    keptYoung: report?.keptYoung ?? 0,
    restored: report?.restored ?? 0,
    durationMs: report?.durationMs ?? 0,
  };
}

/** What `gc` takes; `runGc` is shared by the payload's `gc` and the CLI's local `gc --data`. */
export interface GcRunFlags {
  data?: string;
  /** s3://… (or REGISTRY_STORAGE_URL): collect in a bucket instead of a data directory */
  storage?: string;
  s3Credentials?: string;
  dryRun?: boolean;
  deleteUntagged?: boolean;
  /** default 1h */
  grace?: string;
  settle?: string;
  json?: boolean;
  stateFile?: string;
  /** forget mirrored repositories idle for longer than this */
  mirrorMaxIdle?: string;
}

/** Runs a collection over a local data directory and prints its report (human or JSON). */
export async function runGc(flags: GcRunFlags, out: GcOutput = processOutput): Promise<GcReport> {
  const graceMs = parseDuration(flags.grace ?? '1h', '--grace');
  const mirrorMaxIdleMs = flags.mirrorMaxIdle === undefined ? undefined : parseDuration(flags.mirrorMaxIdle, '--mirror-max-idle');
  const settleMs = flags.settle === undefined ? undefined : parseDuration(flags.settle, '--settle');
  if (flags.stateFile) await prepareStateFile(flags.stateFile);
  const driver = await openStorageFromFlags(flags, { writable: !flags.dryRun });
  const where = driver.describe();
  const summary = { dryRun: Boolean(flags.dryRun), deleteUntagged: Boolean(flags.deleteUntagged), graceMs };
  let report: GcReport;
  try {
    report = await collectGarbage({
      driver,
      ...summary,
      settleMs,
      mirrorMaxIdleMs,
      log: (line) => out.stderr(`gc: ${line}\n`),
    });
  } catch (err) {
    if (flags.stateFile) await writeStateFile(flags.stateFile, stateRecord(where, summary, undefined, err as Error));
    throw err;
  } finally {
    driver.close?.();
  }
  if (flags.stateFile) await writeStateFile(flags.stateFile, stateRecord(where, summary, report));
  if (flags.json) out.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else out.stdout(humanSummary(report, where));
  return report;
}

/** `gc`: mark and sweep over a registry:2 data directory; safe while the registry is serving it. */
export function gcCommand(out: GcOutput = processOutput): Command {
  return new Command('gc')
    .description('delete blobs and (optionally) untagged manifests nothing refers to; safe while the registry runs')
    .option('--data <dir>', GC_OPTION_HELP.data)
    .option('--storage <url>', 'collect in a bucket: s3://bucket/prefix?endpoint=… (or REGISTRY_STORAGE_URL)')
    .option('--s3-credentials <file>', 'S3 credentials file (access_key_id / secret_access_key), or - for stdin')
    .option('--dry-run', GC_OPTION_HELP.dryRun)
    .option('--delete-untagged', GC_OPTION_HELP.deleteUntagged)
    .option('--grace <duration>', GC_OPTION_HELP.grace, '1h')
    .option('--settle <duration>', GC_OPTION_HELP.settle)
    .option('--mirror-max-idle <duration>', GC_OPTION_HELP.mirrorMaxIdle)
    .option('--json', 'print the report as JSON on stdout')
    .option('--state-file <path>', GC_OPTION_HELP.stateFile)
    .action(async (flags: GcFlags) => {
      await runGc(flags, out);
    });
}
