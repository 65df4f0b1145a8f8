import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { pushBlob, startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { ConfigError } from '../../src/registry/config.js';
import { formatBytes } from '../../src/registry/format-bytes.js';
import { gcCommand, type GcStateRecord } from '../../src/registry/gc/gc-command.js';
import type { GcReport } from '../../src/registry/gc/collect.js';
import { TempDirs } from '../helpers/tmp.js';
import { assertConsistent, hasBlob, pushImage, sleep } from './helpers.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

async function gcCli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    await sleep(15); // let what the test pushed be strictly older than the run
    await gcCommand({ stdout: (t) => (out.stdout += t), stderr: (t) => (out.stderr += t) }).parseAsync(args, { from: 'user' });
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
  return out;
}

describe('the gc command', () => {
  let reg: TestRegistry;
  const tmp = new TempDirs();
  before(async () => {
    reg = await startTestRegistry();
  });
  after(async () => {
    await reg.close();
    await tmp.cleanup();
  });

  it('--dry-run --json reports without deleting; the human summary tells sizes', async () => {
    const loose = await pushImage(reg, 'cmd/app', 'loose');
    await pushImage(reg, 'cmd/app', 'kept', { tag: 'v1' });
    const dry = await gcCli(['--data', reg.dataDir, '--dry-run', '--delete-untagged', '--grace', '0s', '--json']);
    const report = JSON.parse(dry.stdout) as GcReport;
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.deletedManifests, [{ repo: 'cmd/app', digest: loose.digest }]);
    assert.equal(report.deletedBlobs.length, 4);
    for (const d of loose.all) assert.ok(hasBlob(reg.dataDir, d));

    const human = await gcCli(['--data', reg.dataDir, '--delete-untagged', '--grace', '0s', '--settle', '0s']);
    assert.match(human.stdout, new RegExp(`deleted: 4 blobs, freed ${formatBytes(report.freedBytes).replace('.', '\\.')}`));
    assert.match(human.stdout, /removed: 1 manifest in 1 repository/);
    assert.match(human.stderr, /^gc: scanned \d+ repositories/m);
    for (const d of loose.all) assert.ok(!hasBlob(reg.dataDir, d));
    assertConsistent(reg.dataDir);
  });

  it('writes the result record for `status` atomically with --state-file, and spares young blobs with the default grace', async () => {
    const orphan = await pushBlob(reg, 'cmd/state', 'a fresh orphan');
    const dir = await tmp.make('rs-gc-state-');
    const file = path.join(dir, 'state', 'gc.json');
    const out = await gcCli(['--state-file', file], { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: reg.dataDir });
    assert.match(out.stdout, /younger than the grace window \(1h\)/);
    const record = JSON.parse(readFileSync(file, 'utf8')) as GcStateRecord;
    assert.equal(record.ok, true);
    assert.equal(record.dataDir, path.resolve(reg.dataDir));
    assert.equal(record.deletedBlobs, 0);
    assert.ok(record.keptYoung >= 1);
    assert.ok(!Number.isNaN(Date.parse(record.time)));
    assert.deepEqual(readdirSync(path.dirname(file)), ['gc.json']);
    assert.ok(hasBlob(reg.dataDir, orphan));
  });

  it('refuses a bad duration and a missing data directory with a one-line error', async () => {
    await assert.rejects(gcCli(['--data', reg.dataDir, '--grace', 'soon']), ConfigError);
    await assert.rejects(gcCli(['--data', path.join(reg.dataDir, 'nope')]), /no such data directory/);
  });

  it('refuses a folder that is not a registry, and a state file it could not write, before deleting anything', async () => {
    const other = await tmp.make('rs-gc-other-');
    writeFileSync(path.join(other, 'notes.txt'), 'not a registry');
    await assert.rejects(gcCli(['--data', other, '--grace', '0s']), /holds other files but no registry data/);
    assert.deepEqual(readdirSync(other), ['notes.txt'], 'nothing created in the wrong folder');
    await assert.rejects(gcCli(['--data', path.join(other, 'notes.txt')]), /not a directory/);
    const empty = await tmp.make('rs-gc-empty-');
    assert.equal(((await gcCli(['--data', empty, '--json'])).stdout.length > 0), true, 'an empty folder is an empty registry');

    const orphan = await pushBlob(reg, 'cmd/state', 'orphan kept by a refused run');
    await assert.rejects(gcCli(['--data', reg.dataDir, '--grace', '0s', '--settle', '0s', '--state-file', other]), /--state-file .* is a directory/);
    const underAFile = path.join(other, 'notes.txt', 'gc.json');
    await assert.rejects(gcCli(['--data', reg.dataDir, '--grace', '0s', '--settle', '0s', '--state-file', underAFile]), /--state-file .*: cannot write into .* \(it is not a folder\)/);
    assert.ok(hasBlob(reg.dataDir, orphan), 'the refused runs deleted nothing');
  });

  it('prints nothing but the JSON report on stdout when run as a program', async () => {
    await pushBlob(reg, 'cmd/proc', 'orphan for the subprocess');
    await sleep(15);
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(here, 'run-gc.ts'), '--data', reg.dataDir, '--grace', '0s', '--settle', '0s', '--json'], {
      cwd: path.join(here, '../..'),
    });
    const report = JSON.parse(stdout) as GcReport;
    assert.ok(report.deletedBlobs.length >= 1);
    assert.equal(typeof report.durationMs, 'number');
    assert.match(stderr, /gc: moved \d+ item\(s\) aside/);
  });
});
