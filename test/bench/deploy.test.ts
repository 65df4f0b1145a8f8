// The deploy part of the bench, without deploying: the report's verdicts, the command classifier,
// the option check. The deploy itself runs in the quick bench (bench.test.ts), which checks its
// figures (deploy-checks.ts) whenever dockerd and sshd are there, and always under CI.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../helpers/exec.js';
import { repoRoot } from '../helpers/registries.js';
import { BUILD_STEP, emptyDeployInfo, isMutating, RERUN_TARGET_SECONDS, type DeployInfo, type DeployRun } from './deploy.js';
import { renderDeploy } from './report.js';

const bench = (args: string[], timeoutMs: number) =>
  run(process.execPath, ['--import', 'tsx', 'test/bench/run.ts', ...args], { cwd: repoRoot, timeoutMs, allowFailure: true });

test('isMutating tells state-changing remote commands from reads', () => {
  for (const c of [
    'install -d -m 0755 -o 0 -g 0 <dir>/tls',
    'upload <dir>/compose.yaml (2076 bytes, mode 0644 0:0)',
    'docker-compose -p <project> -f <dir>/compose.yaml build registry',
    'docker compose -p <project> -f <dir>/compose.yaml up -d --remove-orphans',
    'sudo -n chmod 0600 <dir>/tls/privkey.pem',
    'systemctl enable --now registry-setup-renew.timer',
  ]) {
    assert.equal(isMutating(c), true, c);
  }
  for (const c of [
    'docker ps -aq --filter label=com.docker.compose.project=<project>',
    'docker-compose -p <project> -f <dir>/compose.yaml exec -T registry node /app/registry.mjs healthcheck',
    'docker-compose version --short',
    'read <dir>/registry-setup.json',
    'sha256sum -- <dir>/compose.yaml',
  ]) {
    assert.equal(isMutating(c), false, c);
  }
});

function fakeRun(wall: number, statuses: Record<string, [string, number]>): DeployRun {
  const steps = Object.entries(statuses).map(([id, [status, seconds]]) => ({ id, name: id, status, seconds }));
  const stepsSeconds = steps.reduce((s, x) => s + x.seconds, 0);
  return { wallSeconds: wall, stepsSeconds, outsideStepsSeconds: wall - stepsSeconds, changed: true, machineBusyCores: 1, steps, commands: [] };
}

test('the deploy report: PASS/MISS against the re-run target, the build share, and steps done twice', () => {
  assert.deepEqual(renderDeploy({ ...emptyDeployInfo(), skipped: 'dockerd is not reachable' }), ['Deploy timing skipped: dockerd is not reachable']);
  assert.match(renderDeploy({ ...emptyDeployInfo(), error: 'first deploy: exited with 1' }).join('\n'), /^Deploy timing FAILED: first deploy/);

  const info: DeployInfo = {
    ...emptyDeployInfo(),
    ran: true,
    first: fakeRun(20, { preflight: ['skipped', 2], files: ['done', 1], [BUILD_STEP]: ['done', 10], reload: ['done', 1] }),
    rerun: fakeRun(12.5, { preflight: ['skipped', 2], files: ['unchanged', 0.3], [BUILD_STEP]: ['unchanged', 0.2], reload: ['done', 0.5] }),
    build: { step: BUILD_STEP, seconds: 10, share: 0.5, composeBuildSeconds: 8, composeBuildShare: 0.4, cache: 'cold' },
    doneTwice: ['reload'],
    rerunPass: false,
  };
  const text = renderDeploy(info).join('\n');
  assert.match(text, new RegExp(`unchanged re-run: 12\\.5 s, target < ${RERUN_TARGET_SECONDS} s: MISS`));
  assert.match(text, /first deploy: 20\.0 s; the image build \(step start: start\) 10\.0 s = 50% of it \(compose build alone 8\.00 s = 40%\)/);
  assert.match(text, /DONE TWICE: reload/);
  assert.match(text, /^\s+total \(CLI wall time\)\s+20\.0 s\s+12\.5 s$/m);
  const passing = renderDeploy({ ...info, rerunPass: true, doneTwice: [] }).join('\n');
  assert.match(passing, /target < 10 s: PASS/);
  assert.match(passing, /done twice: none/);
});

test('--no-deploy with only the deploy scenario selected is a usage error', async () => {
  const r = await bench(['--scenarios', 'deploy', '--no-deploy'], 60_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /leaves nothing to run/);
});
