// The parts of backup/restore the CLI runs on the laptop (a backup directory there, the summaries):
// only the filesystem driver, so the CLI bundle never pulls in the S3 client (a dev dependency).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config-error.js';
import { formatBytes } from '../format-bytes.js';
import type { StorageDriver } from '../storage/driver.js';
import { openDriver } from '../storage/filesystem/open.js';
import { blobDataPath } from '../storage/paths.js';
import type { CopyReport } from './engine.js';
import type { VerifyReport } from './sink.js';

/** A backup directory (created when missing, for a backup), in registry:2 layout. */
export async function openBackupDir(where: string, opts: { create: boolean }): Promise<StorageDriver> {
  const dir = path.resolve(where);
  if (opts.create) mkdirSync(dir, { recursive: true });
  const driver = openDriver(dir, undefined, { existing: true });
  await driver.check?.({ writable: opts.create });
  return driver;
}

export function describeCopy(word: string, r: CopyReport): string {
  const lines = [
    `${word} ${r.source} → ${r.target}: ${r.repositories} repositories, ${r.tags} tags, ${r.blobs} blobs (snapshot of ${r.takenAt})`,
    `  copied ${r.copiedBlobs} blob(s), ${formatBytes(r.copiedBytes)}; ${r.skippedBlobs} already there; took ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  if (r.dropped.length > 0) lines.push(`  left out (deleted while the backup ran): ${r.dropped.slice(0, 5).join(', ')}${r.dropped.length > 5 ? ', …' : ''}`);
  return `${lines.join('\n')}\n`;
}

export function describeVerify(v: VerifyReport): string {
  if (v.bad.length === 0) return `verified: all ${v.checked} blobs hash to their digests (${formatBytes(v.bytes)})\n`;
  return `verify FAILED: ${v.bad.length} of ${v.checked} blobs are damaged:\n${v.bad.map((b) => `  ${b.digest}: ${b.problem}`).join('\n')}\nrun the backup again to replace them (a damaged blob is copied anew once removed: ${blobDataPath('<digest>')})\n`;
}

export function parseRepos(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const repos = text.split(',').map((r) => r.trim()).filter(Boolean);
  if (repos.length === 0) throw new ConfigError('--repos is empty: name repositories, separated by commas');
  return repos;
}
