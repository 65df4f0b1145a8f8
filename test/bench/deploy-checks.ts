// Checks on the deploy figures of a bench run, shared by the tests that run the bench.
import assert from 'node:assert/strict';
import { run } from '../helpers/exec.js';
import { BUILD_STEP, RERUN_TARGET_SECONDS, type DeployInfo } from './deploy.js';

/**
 * The deploy figures of a bench run (its JSON and printed report) are all there: both runs timed
 * step by step, a cold build, an unchanged re-run, the targets printed, and nothing left behind.
 */
export async function assertDeployFigures(d: DeployInfo | undefined, stdout: string): Promise<void> {
  assert.ok(d, 'deploy figures in the JSON');
  assert.equal(d.ran, true, `the deploy timing ran (skipped: ${d.skipped}; error: ${d.error})`);
  assert.equal(d.error, undefined);
  for (const [name, r] of [['first', d.first], ['re-run', d.rerun]] as const) {
    assert.ok(r && r.wallSeconds > 0, `${name}: wall time`);
    assert.ok(r.steps.length >= 5, `${name}: per-step figures`);
    for (const s of r.steps) assert.ok(Number.isFinite(s.seconds) && s.seconds >= 0, `${name}: ${s.id} has a duration`);
    assert.ok(r.stepsSeconds <= r.wallSeconds + 0.5, `${name}: the steps fit in the wall time`);
    assert.ok(r.commands.length > 0, `${name}: the command log was read`);
  }
  const start = d.first!.steps.find((s) => s.id === BUILD_STEP);
  assert.equal(start?.status, 'done', 'the first deploy built and started');
  assert.ok(start!.detail?.includes(`built ${d.image}`), `it built the run's own image tag ${d.image}: ${start!.detail}`);
  assert.equal(d.rerun!.changed, false, 'the re-run changed nothing');
  assert.equal(d.build?.cache, 'cold');
  assert.ok(d.build!.share > 0 && d.build!.share < 1, `build share ${d.build!.share}`);
  assert.ok((d.build!.composeBuildSeconds ?? 0) > 0, 'compose build found in the command log');
  // "Nothing done twice" is a property, not a timing: asserted.
  assert.deepEqual(d.doneTwice, [], 'no step did work in both the first deploy and the re-run');
  assert.deepEqual(d.repeatedSteps, [], 'no step ran twice within one deploy');
  assert.deepEqual(d.repeatedCommands, [], 'no state-changing remote command ran twice in the first deploy');
  assert.equal(typeof d.rerunPass, 'boolean');
  assert.deepEqual(d.warnings, [], 'teardown clean');

  assert.match(stdout, /first deploy: [\d.]+ s; the image build .* = \d+% of it/);
  assert.match(stdout, new RegExp(`unchanged re-run: [\\d.]+ s, target < ${RERUN_TARGET_SECONDS} s: (PASS|MISS)`));
  assert.match(stdout, /done twice: none|DONE TWICE: /);

  // torn down: no container of the project, and the run's own image is gone
  const ps = await run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${d.project}`]);
  assert.equal(ps.stdout.trim(), '', 'no container left');
  const img = await run('docker', ['image', 'inspect', d.image!], { allowFailure: true });
  assert.notEqual(img.code, 0, `${d.image} removed`);
}
