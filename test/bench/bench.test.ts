// Proves the benchmark harness works: runs the quick bench as a subprocess and checks the shape of
// its JSON, the S3 column included when Ceph RGW is installed, and the deploy timing when dockerd
// and sshd are there (always under CI). No timing is asserted; the quick run's figures mean nothing.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../helpers/exec.js';
import { repoRoot } from '../helpers/registries.js';
import { rgwAvailable } from '../helpers/rgw.js';
import { TempDirs } from '../helpers/tmp.js';
import { withDigest } from './api.js';
import type { BenchResult } from './report.js';
import { SCENARIOS } from './scenarios.js';
import type { MirrorBenchResult } from './mirror.js';
import { deploySkipReason } from './deploy.js';
import { assertDeployFigures } from './deploy-checks.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

test('withDigest keeps the query of an upload Location (an S3-backed registry signs it) and adds digest=', () => {
  const base = 'http://127.0.0.1:5000';
  const digest = 'sha256:0123abcd';
  assert.equal(withDigest(new URL('/v2/a/b/blobs/uploads/u1', base), digest), '/v2/a/b/blobs/uploads/u1?digest=sha256%3A0123abcd');
  assert.equal(withDigest(new URL('/v2/a/b/blobs/uploads/u1?', base), digest), '/v2/a/b/blobs/uploads/u1?digest=sha256%3A0123abcd');
  assert.equal(
    withDigest(new URL('/v2/a/b/blobs/uploads/u1?_state=Ab-_9%2Bx%3D&z=1', base), digest),
    '/v2/a/b/blobs/uploads/u1?_state=Ab-_9%2Bx%3D&z=1&digest=sha256%3A0123abcd',
  );
});

const s3Missing = rgwAvailable();
const S3_IDS = SCENARIOS.filter((s) => s.s3).map((s) => s.id);

test('the quick bench runs both registries through every scenario, with and without auth, ours on S3 in the throughput ones, and times a deploy', { timeout: 420_000 }, async () => {
  // Under CI (which installs docker and sshd and starts dockerd) the deploy timing must run. (Not a
  // top-level await: node:test would run the file's after hook before the tests registered after it.)
  const deployMissing = process.env.CI ? undefined : await deploySkipReason();
  const out = await tmp.make('rs-bench-out-');
  const dataParent = await tmp.make('rs-bench-data-');
  const res = await run(process.execPath, ['--import', 'tsx', 'test/bench/run.ts', '--quick', '--out', out, '--dir', dataParent], {
    cwd: repoRoot,
    timeoutMs: 360_000,
    allowFailure: true,
  });
  assert.equal(res.code, 0, `bench exited with ${res.code}\nstderr:\n${res.stderr.slice(-6000)}\nstdout:\n${res.stdout.slice(-3000)}`);
  assert.match(res.stdout, /ratio = ours\/dist/);

  const files = (await readdir(out)).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 1, `one JSON file in ${out}: ${files.join(', ')}`);
  assert.match(files[0]!, /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-z]+\.json$/);
  const result = JSON.parse(await readFile(join(out, files[0]!), 'utf8')) as BenchResult;

  assert.equal(result.meta.mode, 'quick');
  assert.deepEqual(result.meta.scenarios, [...SCENARIOS.map((s) => s.id), 'mirror', 'policy', 'deploy']);
  // the pull-through cache comparison: ours fetches the image from upstream once, however many pull
  const mirror = (result as BenchResult & { mirror: MirrorBenchResult }).mirror;
  assert.equal(mirror.ours.concurrentUpstreamBytes, mirror.imageBytes, '16 concurrent cold pulls fetch the image once');
  assert.equal(mirror.ours.coldUpstreamBytes, mirror.imageBytes);
  assert.equal(mirror.ours.warmUpstreamBytes, 0, 'a warm pull asks the upstream for no blob');
  for (const figures of [mirror.ours, mirror.distribution]) assert.ok(figures.coldMiBps > 0 && figures.warmMiBps > 0 && figures.concurrentColdMiBps > 0);
  assert.match(res.stdout, /Pull-through cache: a 4 × 4 MiB image/);
  if (deployMissing === undefined) {
    await assertDeployFigures(result.deploy, res.stdout);
  } else {
    assert.equal(result.deploy?.ran, false);
    assert.match(res.stdout, /^Deploy timing skipped: /m);
  }
  // The stack bench takes minutes: a --quick run leaves it out unless asked (stack.test.ts covers its parts).
  assert.equal(result.stack?.ran, false);
  assert.match(res.stdout, /^Stack bench skipped: not selected in a --quick run/m);
  // So does the bare-host first deploy (bare-deploy.ts; the e2e bare-host tests cover the deploy itself).
  assert.equal(result.bareDeploy?.ran, false);
  assert.match(res.stdout, /^Bare-host deploy timing skipped: not selected in a --quick run/m);
  assert.ok(result.baselines!.diskDurableWriteMiBps > 0, 'disk ceiling measured');
  assert.ok(result.baselines!.clientSingleStreamPullMiBps > 0, 'client ceiling measured');
  assert.deepEqual(Object.keys(result.passes).sort(), ['auth', 'noauth']);
  const expected = [...SCENARIOS.map((s) => s.id), 'whole-pass'].sort();
  assert.deepEqual([...S3_IDS].sort(), ['big-pull', 'big-push', 'chunked-push', 'mixed'], 'the throughput scenarios have an S3 column');
  if (s3Missing === null) {
    assert.equal(result.s3.enabled, true, `S3 column ran (skipped: ${result.s3.skipped})`);
    assert.equal(result.s3.reduced, undefined, 'the quick run fits in memory without reduction');
    assert.match(res.stdout, /ours on S3 \(RGW\)\s+S3\/fs/, 'the table has the S3 columns');
    assert.deepEqual(Object.keys(result.s3.storePeakRssMiB ?? {}).sort(), ['auth', 'noauth'], 'RGW memory recorded per pass');
  } else {
    assert.equal(result.s3.enabled, false);
    assert.match(res.stdout, /S3 column skipped: RGW is not installed/);
  }
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
      const wantS3 = s3Missing === null && (S3_IDS.includes(sc.id) || sc.id === 'whole-pass');
      if (!wantS3) {
        assert.equal(sc.s3, undefined, `${where}: no S3 column`);
        continue;
      }
      assert.ok(sc.s3, `${where}: S3 column present (RGW is installed)`);
      assert.deepEqual(Object.keys(sc.s3.result.metrics).sort(), keys, `${where}: ours on S3 has the same figures`);
      assert.deepEqual(Object.keys(sc.s3.ratio).sort(), keys, `${where}: an S3/filesystem ratio for every figure`);
      for (const key of keys) assert.equal(typeof sc.s3.result.metrics[key]!.value, 'number', `${where}: ours on S3 ${key}`);
      if (sc.id !== 'whole-pass') {
        const rate = Object.entries(sc.s3.result.metrics).find(([k]) => k.endsWith('MiB/s'));
        assert.ok(rate && rate[1].value > 0, `${where}: ours on S3 moved bytes`);
        assert.ok(sc.s3.result.store && sc.s3.result.store.cpuSeconds >= 0, `${where}: RGW CPU accounted`);
      }
      assert.ok(
        Object.values(sc.s3.ratio).some((r) => typeof r === 'number' && Number.isFinite(r)),
        `${where}: at least one S3/filesystem ratio is a number`,
      );
    }
  }
});
