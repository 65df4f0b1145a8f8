// Proves the bench's "with policy" pass runs: `run.ts --quick --scenarios policy` starts ours with
// a 50-glob policy and distribution with htpasswd, drives every request kind against both, and
// reports ratios. No timing is asserted; the quick run's figures mean nothing.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseAccessPolicy } from '../../src/registry/auth/access-policy.js';
import { run } from '../helpers/exec.js';
import { repoRoot } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';
import { policyText, POLICY_RULES, POLICY_USERS, type PolicyBenchResult } from './policy.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

test('the policy has 50 globs naming the users, and user07 reads its repository by a policy', () => {
  const policy = parseAccessPolicy(policyText());
  assert.equal(policy.ruleCount, POLICY_RULES);
  assert.equal(policy.namedUsers.length, POLICY_USERS, 'admin and the 19 users');
  assert.match(policy.decide('user07', 'team07/app', 'read').rule, /^repositories\["team07\/\*\*"\]\.policies\[0\]/);
});

test('npm run bench -- --scenarios policy runs the pass and reports a ratio per request kind', { timeout: 240_000 }, async () => {
  const out = await tmp.make('rs-bench-policy-out-');
  const dataParent = await tmp.make('rs-bench-policy-data-');
  const res = await run(process.execPath, ['--import', 'tsx', 'test/bench/run.ts', '--quick', '--scenarios', 'policy', '--out', out, '--dir', dataParent], {
    cwd: repoRoot,
    timeoutMs: 200_000,
    allowFailure: true,
  });
  assert.equal(res.code, 0, `bench exited with ${res.code}\nstderr:\n${res.stderr.slice(-4000)}\nstdout:\n${res.stdout.slice(-2000)}`);
  assert.match(res.stdout, /With policy .*ours \(50 globs, 20 users\) vs distribution 2\.8/);
  const files = (await readdir(out)).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 1);
  const result = JSON.parse(await readFile(join(out, files[0]!), 'utf8')) as { meta: { scenarios: string[] }; policy: PolicyBenchResult };
  assert.deepEqual(result.meta.scenarios, ['policy']);
  assert.deepEqual(Object.keys(result.policy.kinds), ['small-blob HEAD', 'small-blob GET', 'manifest GET by tag']);
  for (const k of Object.values(result.policy.kinds)) {
    assert.equal(k.ratios.length, result.policy.rounds);
    assert.ok(k.ours.every((v) => v > 0) && k.distribution.every((v) => v > 0) && k.medianRatio > 0, JSON.stringify(k));
  }
});
