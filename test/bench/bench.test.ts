// Proves the benchmark harness works: runs the quick bench as a subprocess and checks the shape of
// its JSON. No timing is asserted; the quick run's figures mean nothing.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../helpers/exec.js';
import { repoRoot } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';
import type { BenchResult } from './report.js';
import { SCENARIOS } from './scenarios.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

test('the quick bench runs both registries through every scenario, with and without auth', { timeout: 300_000 }, async () => {
  const out = await tmp.make('rs-bench-out-');
  const dataParent = await tmp.make('rs-bench-data-');
  const res = await run(process.execPath, ['--import', 'tsx', 'test/bench/run.ts', '--quick', '--out', out, '--dir', dataParent], {
    cwd: repoRoot,
    timeoutMs: 240_000,
    allowFailure: true,
  });
  assert.equal(res.code, 0, `bench exited with ${res.code}\nstderr:\n${res.stderr.slice(-6000)}\nstdout:\n${res.stdout.slice(-3000)}`);
  assert.match(res.stdout, /ratio = ours\/dist/);

  const files = (await readdir(out)).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 1, `one JSON file in ${out}: ${files.join(', ')}`);
  assert.match(files[0]!, /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-z]+\.json$/);
  const result = JSON.parse(await readFile(join(out, files[0]!), 'utf8')) as BenchResult;

  assert.equal(result.meta.mode, 'quick');
  assert.ok(result.baselines.diskDurableWriteMiBps > 0, 'disk ceiling measured');
  assert.ok(result.baselines.clientSingleStreamPullMiBps > 0, 'client ceiling measured');
  assert.deepEqual(Object.keys(result.passes).sort(), ['auth', 'noauth']);
  const expected = [...SCENARIOS.map((s) => s.id), 'whole-pass'].sort();
  for (const pass of Object.values(result.passes)) {
    assert.deepEqual(Object.keys(pass.scenarios).sort(), expected, `scenarios of pass ${pass.name}`);
    for (const sc of Object.values(pass.scenarios)) {
      const where = `${pass.name}/${sc.id}`;
      const keys = Object.keys(sc.ours.metrics).sort();
      assert.ok(keys.length > 0, `${where}: ours has figures`);
      assert.deepEqual(Object.keys(sc.distribution.metrics).sort(), keys, `${where}: distribution has the same figures`);
      assert.deepEqual(Object.keys(sc.ratio).sort(), keys, `${where}: a ratio for every figure`);
      for (const key of keys) {
        for (const kind of ['ours', 'distribution'] as const) {
          assert.equal(typeof sc[kind].metrics[key]!.value, 'number', `${where}: ${kind} ${key}`);
        }
        const r = sc.ratio[key];
        assert.ok(r === null || typeof r === 'number', `${where}: ratio of ${key} is ${r}`);
      }
      assert.ok(
        Object.values(sc.ratio).some((r) => typeof r === 'number' && Number.isFinite(r)),
        `${where}: at least one ratio is a number`,
      );
    }
  }
});
