// Backup and restore of a deployment: the payload's own `backup`/`restore` (src/registry/backup)
// run in the registry container while it serves, so they see exactly its storage (data directory
// or bucket). A backup in a local directory travels as a framed stream over the SSH channel and is
// written here by the same code that writes a backup on the host (no temporary copy anywhere).
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { containerFor } from '../deploy/stack.js';
import type { Argv } from '../provision/index.js';
import { CONTAINER_PATHS, IMAGE_COMMANDS } from '../host/contract.js';
import { openBackupDir } from '../registry/backup/backup-dir.js';
import { runRestore, type CopyProgress, type CopyReport } from '../registry/backup/engine.js';
import { DriverSink, readBackupManifest, verifyBackup, type VerifyReport } from '../registry/backup/sink.js';
import { receiveFrames, StreamSink } from '../registry/backup/stream.js';
import { selectRepositories, type BackupManifest } from '../registry/backup/snapshot.js';
import { scanBlobs } from '../registry/gc/inventory.js';
import { blobDataPath } from '../registry/storage/paths.js';
import type { Deployment } from './deployment.js';
import { OpsError } from './errors.js';

export class BackupError extends OpsError {}

/** A backup location: a bucket (the container writes it) or a directory here (streamed over SSH). */
export function isBucketUrl(where: string): boolean {
  return where.startsWith('s3://');
}

export interface PayloadCopyOptions {
  /** the deployment's content is in a bucket (the container's REGISTRY_STORAGE_URL says which) */
  inBucket: boolean;
  /** `-` (a stream) or s3://… */
  location: string;
  /** the bucket's credentials come on stdin */
  credentialsOnStdin?: boolean;
  verify?: boolean;
  repos?: readonly string[];
}

/** `docker exec -i <registry> node /app/registry.mjs backup --to … --json` */
export function backupPayloadArgv(container: string, o: PayloadCopyOptions): Argv {
  return [
    'docker', 'exec', '-i', container, 'node', CONTAINER_PATHS.registryBundle, IMAGE_COMMANDS.backup,
    ...(o.inBucket ? [] : ['--data', CONTAINER_PATHS.data]),
    '--to', o.location,
    ...(o.credentialsOnStdin ? ['--to-s3-credentials', '-'] : []),
    ...(o.verify ? ['--verify'] : []),
    '--json',
  ];
}

/** `docker exec -i <registry> node /app/registry.mjs restore --from … --json` */
export function restorePayloadArgv(container: string, o: PayloadCopyOptions): Argv {
  return [
    'docker', 'exec', '-i', container, 'node', CONTAINER_PATHS.registryBundle, IMAGE_COMMANDS.restore,
    ...(o.inBucket ? [] : ['--data', CONTAINER_PATHS.data]),
    '--from', o.location,
    ...(o.credentialsOnStdin ? ['--from-s3-credentials', '-'] : []),
    ...(o.repos && o.repos.length > 0 ? ['--repos', o.repos.join(',')] : []),
    '--json',
  ];
}

async function runningRegistry(d: Deployment): Promise<string> {
  const registry = containerFor(await d.containers(), 'registry');
  if (!registry || registry.state !== 'running') {
    throw new BackupError(`the registry container is not running on ${d.hostName} (${registry ? registry.state : 'missing'}); start it with registry-setup deploy`);
  }
  return registry.id;
}

/** JSON lines of the payload (on stdout, or on stderr after `backup: ` while stdout is the stream). */
class PayloadEvents {
  result: Record<string, unknown> | undefined;
  private partial = '';
  private readonly other: string[] = [];

  constructor(
    private readonly prefix: string,
    private readonly progress: (p: CopyProgress) => void,
  ) {}

  feed = (text: string): void => {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const raw of lines) {
      const line = raw.startsWith(this.prefix) ? raw.slice(this.prefix.length) : raw;
      let event: Record<string, unknown> | undefined;
      try {
        if (line.startsWith('{')) event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        event = undefined;
      }
      if (event?.type === 'progress') this.progress(event as unknown as CopyProgress);
      else if (event?.type === 'result') this.result = event;
      else if (event?.type === 'error') this.other.push(String(event.error));
      else if (!event && line.trim()) this.other.push(line.trim());
    }
  };

  /** The line that says why the payload failed, naming the data directory as the host has it. */
  why(code: number, dataDir?: string): string {
    const line = (this.other.at(-1) ?? `exit code ${code}`).replace(/^registry: /, '');
    return dataDir ? line.split(CONTAINER_PATHS.data).join(dataDir) : line;
  }
}

export interface RemoteBackupOptions {
  /** a local directory, or s3://… */
  to: string;
  /** the backup bucket's credentials file (local) */
  s3Credentials?: string;
  verify?: boolean;
  progress?: (p: CopyProgress) => void;
}

export interface RemoteBackupResult {
  report: CopyReport;
  verify?: VerifyReport;
}

function readCredentials(file: string | undefined, where: string): string | undefined {
  if (!isBucketUrl(where)) {
    if (file) throw new BackupError('--s3-credentials is for an s3:// location; a directory needs none');
    return undefined;
  }
  if (!file) throw new BackupError(`${where} needs --s3-credentials FILE (access_key_id / secret_access_key)`);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new BackupError(`cannot read --s3-credentials ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Backs the deployment up while it serves: into a bucket from the host, or into a local directory over SSH. */
export async function runRemoteBackup(d: Deployment, o: RemoteBackupOptions): Promise<RemoteBackupResult> {
  const credentials = readCredentials(o.s3Credentials, o.to);
  const container = await runningRegistry(d);
  const inBucket = d.settings.storage !== undefined;
  const events = new PayloadEvents('backup: ', o.progress ?? (() => undefined));
  if (credentials !== undefined) {
    const argv = backupPayloadArgv(container, { inBucket, location: o.to, credentialsOnStdin: true, ...(o.verify ? { verify: true } : {}) });
    const r = await d.host.execStream(argv, (text, stream) => stream === 'stdout' && events.feed(text), { sudo: true, stdin: credentials, allowFailure: true });
    events.feed('\n');
    const result = events.result as (CopyReport & { verify?: VerifyReport }) | undefined;
    if (!result) throw new BackupError(`backup failed on ${d.hostName}: ${events.why(r.code, d.settings.dataDir)}`);
    const { verify, ...report } = result;
    if (verify && verify.bad.length > 0) throw new BackupError(`the backup in ${o.to} has ${verify.bad.length} damaged blob(s): ${verify.bad.slice(0, 3).map((b) => `${b.digest} (${b.problem})`).join(', ')}; run backup again`);
    return { report: report as CopyReport, ...(verify ? { verify } : {}) };
  }

  const local = await openBackupDir(o.to, { create: true });
  const sink = new DriverSink(local);
  await sink.removeUnfinished();
  const have = [...(await scanBlobs(local))].map(([digest, info]) => `${digest} ${info.size}\n`).join('');
  const stream = new PassThrough();
  const abort = new AbortController();
  const receiving = receiveFrames(stream, sink).catch((err: unknown) => {
    abort.abort();
    throw err;
  });
  receiving.catch(() => undefined);
  const argv = backupPayloadArgv(container, { inBucket, location: '-' });
  const r = await d.host.execBytes(argv, stream, events.feed, { sudo: true, stdin: have, signal: abort.signal });
  events.feed('\n');
  stream.end();
  let manifest: BackupManifest;
  try {
    manifest = await receiving;
  } catch (err) {
    if (r.code !== 0 && !r.aborted) throw new BackupError(`backup failed on ${d.hostName}: ${events.why(r.code, d.settings.dataDir)}`);
    throw new BackupError(`writing the backup into ${o.to} failed: ${(err as Error).message}`);
  }
  if (r.code !== 0 || !events.result) throw new BackupError(`backup failed on ${d.hostName}: ${events.why(r.code, d.settings.dataDir)}`);
  const { type: _type, time: _time, ...report } = events.result;
  const result: RemoteBackupResult = { report: { ...(report as unknown as CopyReport), target: local.describe() } };
  if (o.verify) {
    result.verify = await verifyBackup(local, manifest);
    if (result.verify.bad.length > 0) {
      throw new BackupError(`the backup in ${o.to} has ${result.verify.bad.length} damaged blob(s): ${result.verify.bad.slice(0, 3).map((b) => `${b.digest} (${b.problem})`).join(', ')}; delete them and run backup again`);
    }
  }
  return result;
}

export interface RemoteRestoreOptions {
  /** a local directory holding a backup, or s3://… */
  from: string;
  s3Credentials?: string;
  repos?: readonly string[];
  progress?: (p: CopyProgress) => void;
}

export interface RemoteRestoreResult {
  repositories: number;
  tags: number;
  blobs: number;
  verified: boolean;
}

/** Restores a backup into the deployment (empty, or only the repositories named) while it serves. */
export async function runRemoteRestore(d: Deployment, o: RemoteRestoreOptions): Promise<RemoteRestoreResult> {
  const credentials = readCredentials(o.s3Credentials, o.from);
  const container = await runningRegistry(d);
  const inBucket = d.settings.storage !== undefined;
  const events = new PayloadEvents('restore: ', o.progress ?? (() => undefined));
  const base = { inBucket, ...(o.repos ? { repos: o.repos } : {}) };
  if (credentials !== undefined) {
    const argv = restorePayloadArgv(container, { ...base, location: o.from, credentialsOnStdin: true });
    const r = await d.host.execStream(argv, (text) => events.feed(text), { sudo: true, stdin: credentials, allowFailure: true });
    events.feed('\n');
    if (r.code !== 0 || !events.result) throw new BackupError(`restore failed on ${d.hostName}: ${events.why(r.code, d.settings.dataDir)}`);
    return events.result as unknown as RemoteRestoreResult;
  }

  const local = await openBackupDir(o.from, { create: false });
  const manifest = await readBackupManifest(local);
  if (!manifest) throw new BackupError(`${o.from} holds no backup (no backup.json in it): give the directory registry-setup backup wrote`);
  // an unknown name is refused here, before anything is sent
  selectRepositories(manifest, o.repos);
  const stream = new PassThrough();
  const sending = runRestore({
    manifest,
    source: local.describe(),
    open: async (digest) => {
      const info = await local.stat(blobDataPath(digest));
      return info ? { size: info.size, body: () => local.reader(blobDataPath(digest)) } : null;
    },
    sink: new StreamSink(stream, new Set(), d.hostName),
    ...(o.repos ? { repositories: o.repos } : {}),
    ...(o.progress ? { progress: o.progress } : {}),
  }).finally(() => stream.end());
  sending.catch(() => undefined);
  const argv = restorePayloadArgv(container, { ...base, location: '-' });
  const r = await d.host.execStream(argv, (text) => events.feed(text), { sudo: true, stdin: stream, allowFailure: true });
  events.feed('\n');
  // the payload refused or failed: whatever was still being sent has nowhere to go
  stream.destroy();
  if (r.code !== 0 || !events.result) throw new BackupError(`restore failed on ${d.hostName}: ${events.why(r.code, d.settings.dataDir)}`);
  await sending;
  return events.result as unknown as RemoteRestoreResult;
}
