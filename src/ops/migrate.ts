// Filesystem → bucket, online (issue 23 §3). The copy and its catch-up are backups into the bucket
// (ops/backup.ts) while the registry serves the data directory; after the switch (a re-deploy with
// `storage`, done by the CLI) the pushes of the switch window are merged from the old directory by
// the registry image's own `backup --merge`, run beside the new registry with the directory
// mounted read-only; the old directory is removed only by `migrate --cleanup`.
import { containerFor } from '../deploy/stack.js';
import type { Argv } from '../provision/index.js';
import { CONTAINER_PATHS, HOST_LAYOUT, IMAGE_COMMANDS, REGISTRY_UID } from '../host/contract.js';
import type { CopyReport } from '../registry/backup/engine.js';
import type { Deployment } from './deployment.js';
import { OpsError } from './errors.js';

export class MigrateError extends OpsError {}

/** Where migrate records what it moved, for --cleanup (under the state directory `status` reads). */
export const MIGRATION_RECORD = `${HOST_LAYOUT.stateDir}/migration.json`;

export interface MigrationRecord {
  /** the old data directory on the host */
  from: string;
  /** the storage URL the deployment was switched to */
  to: string;
  migratedAt: string;
  cleanedAt?: string;
}

/** What a migration target must be: an s3:// URL without `ca=` (its file would not be in the container). */
export function checkMigrationTarget(to: string): void {
  if (!to.startsWith('s3://')) throw new MigrateError(`--to ${to}: give the bucket as s3://bucket/prefix?endpoint=…`);
  if (/[?&]ca=/.test(to)) throw new MigrateError('--to with ca=: not supported by migrate yet; copy with backup --to, then deploy --storage');
}

/**
 * `docker run --rm -i` of the registry image beside the running registry (its network, so the
 * bucket is reached the same way), the old data directory read-only, the credentials on stdin.
 */
export function mergeFromDirectoryArgv(o: { image: string; registryContainer: string; dataDir: string; to: string }): Argv {
  return [
    'docker', 'run', '--rm', '-i',
    '--network', `container:${o.registryContainer}`,
    '--user', `${REGISTRY_UID}:${REGISTRY_UID}`,
    '-v', `${o.dataDir}:${CONTAINER_PATHS.data}:ro`,
    '--entrypoint', 'node',
    o.image,
    CONTAINER_PATHS.registryBundle, IMAGE_COMMANDS.backup, '--data', CONTAINER_PATHS.data,
    '--to', o.to, '--to-s3-credentials', '-', '--merge', '--json',
  ];
}

/** Runs the merge; the deployment must serve the bucket already. */
export async function mergeOldDirectory(d: Deployment, credentials: string, oldDataDir: string): Promise<CopyReport> {
  const to = d.settings.storage;
  if (!to) throw new MigrateError(`${d.hostName} does not serve a bucket: the switch did not happen`);
  const registry = containerFor(await d.containers(), 'registry');
  if (!registry || registry.state !== 'running') throw new MigrateError(`the registry container is not running on ${d.hostName}; start it with registry-setup deploy`);
  const argv = mergeFromDirectoryArgv({ image: registry.image, registryContainer: registry.id, dataDir: oldDataDir, to });
  const r = await d.host.exec(argv, { sudo: true, stdin: credentials, allowFailure: true });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
  const last = lines.length ? (JSON.parse(lines.at(-1)!) as Record<string, unknown>) : undefined;
  if (r.code !== 0 || last?.type !== 'result') {
    const why = r.stderr.trim().split('\n').at(-1) ?? `exit code ${r.code}`;
    throw new MigrateError(`merging what ${oldDataDir} got during the switch failed: ${why.replace(/^registry: /, '')}; the old directory is kept, run migrate again`);
  }
  const { type: _t, time: _time, ...report } = last;
  return report as unknown as CopyReport;
}

export async function writeMigrationRecord(d: Deployment, record: MigrationRecord): Promise<void> {
  await d.host.upload(d.path(MIGRATION_RECORD), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644, sudo: true });
}

export async function readMigrationRecord(d: Deployment): Promise<MigrationRecord | null> {
  const bytes = await d.host.readFile(d.path(MIGRATION_RECORD), { sudo: true });
  return bytes ? (JSON.parse(bytes.toString('utf8')) as MigrationRecord) : null;
}

/** `rm -rf -- <old data dir>/docker`: only the registry:2 tree, never the directory itself. */
export function removeOldDataArgv(oldDataDir: string): Argv {
  return ['rm', '-rf', '--', `${oldDataDir.replace(/\/+$/, '')}/docker`];
}

/** --cleanup: removes the old directory's images once the deployment serves the bucket migrate filled. */
export async function cleanupMigration(d: Deployment): Promise<MigrationRecord> {
  const record = await readMigrationRecord(d);
  if (!record) throw new MigrateError(`no migration is recorded on ${d.hostName} (${d.path(MIGRATION_RECORD)}): run registry-setup migrate --to s3://… first`);
  if (record.cleanedAt) return record;
  if (d.settings.storage !== record.to) {
    throw new MigrateError(`${d.hostName} serves ${d.settings.storage ?? d.settings.dataDir}, not ${record.to} that migrate filled: the old directory ${record.from} is kept`);
  }
  await d.host.exec(removeOldDataArgv(record.from), { sudo: true });
  const cleaned = { ...record, cleanedAt: new Date().toISOString() };
  await writeMigrationRecord(d, cleaned);
  return cleaned;
}
