// planDiff and its unified diff, checked against GNU diff where the output must be identical.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { planDiff, unifiedDiff, type FileSpec } from '../../src/provision/index.js';
import { run } from '../helpers/exec.js';
import { TempDirs } from '../helpers/tmp.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

const file = (path: string, content: string | Buffer, extra: Partial<FileSpec> = {}): FileSpec => ({ path, content, mode: 0o644, ...extra });

describe('planDiff', () => {
  test('create, update, unchanged', () => {
    const plan = planDiff(
      [file('/a', 'one\ntwo\n'), file('/b', 'same\n'), file('/c', 'new\n')],
      { '/a': 'one\nTWO\n', '/b': Buffer.from('same\n'), '/c': null },
    );
    assert.deepEqual(plan.map((p) => `${p.path} ${p.action}`), ['/a update', '/b unchanged', '/c create']);
    assert.equal(plan[0]!.diff, '--- a/a\n+++ b/a\n@@ -1,2 +1,2 @@\n one\n-TWO\n+two\n');
    assert.equal(plan[1]!.diff, undefined);
  });

  test('a Map works too, and a missing key is "create"', () => {
    const plan = planDiff([file('/x', 'x\n'), file('/y', 'y\n')], new Map([['/x', 'x\n']]));
    assert.deepEqual(plan.map((p) => p.action), ['unchanged', 'create']);
  });

  test('mode and owner changes alone are updates', () => {
    const plan = planDiff(
      [file('/h', 'u:h\n', { mode: 0o600, owner: 1000, group: 1000 }), file('/i', 'i\n')],
      { '/h': { content: 'u:h\n', mode: 0o100644, uid: 0, gid: 0 }, '/i': { content: 'i\n', mode: 0o644, uid: 0, gid: 0 } },
    );
    assert.equal(plan[0]!.action, 'update');
    assert.equal(plan[0]!.note, 'mode 0644 → 0600; owner 0:0 → 1000:1000');
    assert.equal(plan[1]!.action, 'unchanged');
  });

  test('sensitive, binary and large files get a note instead of a diff', () => {
    const big = 'x\n'.repeat(200_000);
    const plan = planDiff(
      [file('/s', 'admin:$2y$new\n', { sensitive: true }), file('/bin', Buffer.from([0, 1, 2])), file('/big', `${big}y\n`)],
      { '/s': 'admin:$2y$old\n', '/bin': Buffer.from([0, 1, 3]), '/big': big },
    );
    assert.deepEqual(plan.map((p) => p.action), ['update', 'update', 'update']);
    assert.ok(plan.every((p) => p.diff === undefined));
    assert.equal(plan[0]!.note, 'sensitive: content changed, not shown');
    assert.doesNotMatch(JSON.stringify(plan), /\$2y\$/);
    assert.match(plan[1]!.note!, /^binary: 3 bytes, sha256 [0-9a-f]{12} → 3 bytes, sha256 [0-9a-f]{12}$/);
    assert.match(plan[2]!.note!, /^large file: 400000 bytes/);
    assert.equal(planDiff([file('/s', 'x', { sensitive: true })], {})[0]!.note, 'sensitive: content not shown');
  });
});

describe('unifiedDiff', () => {
  test('equal texts give an empty diff', () => {
    assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'f'), '');
  });

  test('missing final newline is marked', () => {
    assert.equal(unifiedDiff('a\nb', 'a\nb\n', 'f'), '--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n');
  });

  test('from and to empty files', () => {
    assert.equal(unifiedDiff('', 'a\n', 'f'), '--- a/f\n+++ b/f\n@@ -0,0 +1,1 @@\n+a\n');
    assert.equal(unifiedDiff('a\n', '', 'f'), '--- a/f\n+++ b/f\n@@ -1,1 +0,0 @@\n-a\n');
  });

  test('hunks match GNU diff -u', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
    const before = `${lines.join('\n')}\n`;
    const changed = [...lines];
    changed[2] = 'changed 3';
    changed.splice(10, 2);
    changed.splice(20, 0, 'inserted a', 'inserted b');
    changed[36] = 'changed near the end';
    const after = `${changed.join('\n')}\n`;
    const dir = await tmp.make('rs-diff-');
    await writeFile(join(dir, 'old'), before);
    await writeFile(join(dir, 'new'), after);
    const gnu = await run('diff', ['-u', '--label', 'a/etc/x.conf', '--label', 'b/etc/x.conf', join(dir, 'old'), join(dir, 'new')], { allowFailure: true });
    assert.equal(gnu.code, 1);
    // GNU diff writes ",1" counts as bare numbers; normalise that one formatting difference
    const ours = unifiedDiff(before, after, '/etc/x.conf').replace(/@@ -(\d+),1 /g, '@@ -$1 ').replace(/ \+(\d+),1 @@/g, ' +$1 @@');
    assert.equal(ours, gnu.stdout);
  });
});
