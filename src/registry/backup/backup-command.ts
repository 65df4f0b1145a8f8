// `backup` and `restore` of the payload (node registry.mjs backup|restore): run beside the registry
// (in its container on a host) while it serves. The target is a data directory, a bucket, or `-`:
// a framed stream on stdout/stdin that `registry-setup backup|restore <target>` carries over SSH.
import { Command } from 'commander';
import { ConfigError } from '../config-error.js';
import { formatBytes } from '../format-bytes.js';
import type { StorageDriver } from '../storage/driver.js';
import { openStorage, openStorageFromFlags, type StorageFlags } from '../storage/open.js';
import { blobDataPath } from '../storage/paths.js';
import { ManifestStore } from '../storage/manifest-store.js';
import { BlobStore } from '../storage/blob-store.js';
import { runBackup, runRestore, type CopyProgress, type CopyReport } from './engine.js';
import { DriverSink, readBackupManifest, verifyBackup } from './sink.js';
import { readHaveList, receiveFrames, StreamSink } from './stream.js';
import { describeCopy, describeVerify, openBackupDir, parseRepos } from './backup-dir.js';

export { describeCopy, describeVerify, openBackupDir, parseRepos };

/** A backup's place: `-` (the stream), s3://…, or a directory (created when missing, for a backup). */
export async function openBackupStore(where: string, credentials: string | undefined, opts: { create: boolean }): Promise<StorageDriver> {
  if (!where.trim()) throw new ConfigError('the backup location is empty: give a directory or an s3:// URL');
  if (where.startsWith('s3://')) {
    const s3 = (await import('../storage/s3/settings.js')).parseStorageUrl(where);
    const driver = await openStorage({ dataDir: '', s3, s3CredentialsFile: credentials }, { existing: true });
    await driver.check?.({ writable: opts.create });
    return driver;
  }
  if (credentials) throw new ConfigError('S3 credentials are for an s3:// backup location');
  return openBackupDir(where, opts);
}

/** What the commands print: human lines on stderr, or JSON lines on stdout (the last one the result). */
export class CopyOutput {
  constructor(
    private readonly json: boolean,
    private readonly word: string,
    /** the stream is on stdout: JSON lines go to stderr, prefixed */
    private readonly streaming = false,
  ) {}

  event(type: string, data: Record<string, unknown>): void {
    const line = JSON.stringify({ type, time: new Date().toISOString(), ...data });
    if (this.streaming) process.stderr.write(`${this.word}: ${line}\n`);
    else process.stdout.write(`${line}\n`);
  }

  progress = (p: CopyProgress): void => {
    if (this.json || this.streaming) this.event('progress', { ...p });
    else process.stderr.write(`${this.word}: ${p.phase}: ${p.done}/${p.total} blobs looked at, ${p.copiedBlobs} copied (${formatBytes(p.copiedBytes)})\n`);
  };

  info(message: string): void {
    if (this.json || this.streaming) this.event('info', { message });
    else process.stderr.write(`${this.word}: ${message}\n`);
  }
}

interface BackupFlags extends StorageFlags {
  to: string;
  toS3Credentials?: string;
  verify?: boolean;
  merge?: boolean;
  json?: boolean;
}

/**
 * A backup replaces what its target holds (tags and repositories gone from the source go there
 * too): the target must be empty, or a backup (backup.json), unless merging into it.
 */
export async function checkBackupTarget(driver: StorageDriver, merge: boolean): Promise<void> {
  if (merge || (await readBackupManifest(driver))) return;
  const have = await new ManifestStore(driver, new BlobStore(driver)).repositories();
  if (have.length > 0) {
    throw new ConfigError(`${driver.describe()} holds a registry (${have.length} repositories, e.g. ${have[0]}) but no backup.json: give an empty place or an earlier backup`);
  }
}

export function backupCommand(): Command {
  return new Command('backup')
    .description('copy the registry (while it serves) into a backup: a directory, a bucket, or - (a stream on stdout)')
    .requiredOption('--to <dir|s3://…|->', 'where the backup goes; a second run copies only new blobs')
    .option('--to-s3-credentials <file>', 'credentials of the backup bucket')
    .option('--verify', 're-hash every blob of the backup afterwards')
    .option('--merge', 'add to the registry the target holds (a migration\'s last catch-up): remove nothing, keep its newer tags, no backup.json')
    .option('--json', 'JSON lines on stdout, the last one the result')
    .option('--data <dir>', 'data directory in registry:2 layout (default REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY or ./data)')
    .option('--storage <url>', 'the registry is in a bucket: s3://bucket/prefix?endpoint=… (or REGISTRY_STORAGE_URL)')
    .option('--s3-credentials <file>', "credentials of the registry's bucket")
    .action(async (flags: BackupFlags) => {
      const streaming = flags.to === '-';
      if (streaming && flags.verify) throw new ConfigError('--verify with --to -: the receiving end verifies');
      if (streaming && flags.merge) throw new ConfigError('--merge is for a bucket or directory, not --to -');
      const out = new CopyOutput(Boolean(flags.json), 'backup', streaming);
      const source = await openStorageFromFlags(flags);
      const target = streaming ? undefined : await openBackupStore(flags.to, flags.toS3Credentials, { create: true });
      try {
        let sink;
        if (target) {
          await checkBackupTarget(target, Boolean(flags.merge));
          sink = new DriverSink(target);
          // a merge target is a live registry: its unfinished uploads are its clients'
          const removed = flags.merge ? 0 : await sink.removeUnfinished();
          if (removed > 0) out.info(`removed ${removed} unfinished blob(s) an interrupted run left`);
        } else {
          sink = new StreamSink(process.stdout, await readHaveList(process.stdin));
        }
        const { report, manifest } = await runBackup({ source, sink, progress: out.progress, ...(flags.merge ? { merge: true } : {}) });
        if (flags.merge && sink instanceof DriverSink) {
          const problems = await sink.check(manifest, report.keptTargetTags);
          if (problems.length > 0) throw new Error(`the target does not match the source after the merge: ${problems.slice(0, 3).join('; ')}`);
        }
        const verify = target && flags.verify ? await verifyBackup(target, manifest) : undefined;
        if (flags.json || streaming) out.event('result', { ...report, ...(verify ? { verify } : {}) });
        else process.stdout.write(describeCopy('backup', report) + (verify ? describeVerify(verify) : ''));
        if (verify && verify.bad.length > 0) process.exitCode = 1;
      } finally {
        source.close?.();
        target?.close?.();
      }
    });
}

interface RestoreFlags extends StorageFlags {
  from: string;
  fromS3Credentials?: string;
  repos?: string;
  json?: boolean;
}

/** Restore writes into an empty registry, or only repositories it does not have yet. */
export async function checkRestoreTarget(driver: StorageDriver, repos: readonly string[] | undefined): Promise<void> {
  const have = await new ManifestStore(driver, new BlobStore(driver)).repositories();
  if (!repos || repos.length === 0) {
    if (have.length > 0) {
      throw new ConfigError(`${driver.describe()} is not empty (${have.length} repositories, e.g. ${have[0]}): restore into an empty deployment, or name the repositories to restore with --repos`);
    }
    return;
  }
  const clash = repos.filter((r) => have.includes(r));
  if (clash.length > 0) throw new ConfigError(`${driver.describe()} has ${clash.join(', ')} already: delete it first, or leave it out of --repos`);
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('copy a backup into this registry (an empty one, or the repositories named by --repos), verified by digest')
    .requiredOption('--from <dir|s3://…|->', 'the backup (- : a stream on stdin)')
    .option('--from-s3-credentials <file>', 'credentials of the backup bucket')
    .option('--repos <names>', 'only these repositories (comma-separated); the registry may then hold others')
    .option('--json', 'JSON lines on stdout, the last one the result')
    .option('--data <dir>', 'data directory in registry:2 layout (default REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY or ./data)')
    .option('--storage <url>', 'the registry is in a bucket: s3://bucket/prefix?endpoint=… (or REGISTRY_STORAGE_URL)')
    .option('--s3-credentials <file>', "credentials of the registry's bucket")
    .action(async (flags: RestoreFlags) => {
      const repos = parseRepos(flags.repos);
      const out = new CopyOutput(Boolean(flags.json), 'restore');
      const target = await openStorageFromFlags(flags, { writable: true });
      const source = flags.from === '-' ? undefined : await openBackupStore(flags.from, flags.fromS3Credentials, { create: false });
      try {
        await checkRestoreTarget(target, repos);
        const sink = new DriverSink(target);
        let report: CopyReport | undefined;
        let manifest;
        if (source) {
          const found = await readBackupManifest(source);
          if (!found) throw new ConfigError(`${flags.from} holds no backup (no backup.json in it)`);
          ({ report, manifest } = await runRestore({
            manifest: found,
            source: source.describe(),
            open: async (d) => {
              const info = await source.stat(blobDataPath(d));
              return info ? { size: info.size, body: () => source.reader(blobDataPath(d)) } : null;
            },
            sink,
            ...(repos ? { repositories: repos } : {}),
            progress: out.progress,
          }));
        } else {
          manifest = await receiveFrames(process.stdin, sink);
        }
        const problems = await sink.check(manifest);
        if (problems.length > 0) throw new Error(`the restored registry does not match the backup: ${problems.slice(0, 3).join('; ')}`);
        const tags = Object.values(manifest.repositories).reduce((n, r) => n + Object.keys(r.tags).length, 0);
        const result = report ?? { source: 'the stream', target: target.describe(), repositories: Object.keys(manifest.repositories).length, tags, blobs: Object.keys(manifest.blobs).length };
        if (flags.json) out.event('result', { ...result, verified: true });
        else process.stdout.write(report ? describeCopy('restore', report) : `restored ${result.repositories} repositories, ${tags} tags, ${result.blobs} blobs into ${target.describe()}\n`);
        process.stdout.write(flags.json ? '' : 'verified: every tag names its manifest, every blob is there with its digest\n');
      } finally {
        source?.close?.();
        target.close?.();
      }
    });
}
