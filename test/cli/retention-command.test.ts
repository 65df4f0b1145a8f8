// `registry-setup retention --data DIR --policy FILE` as a user runs it (the built bin, which runs
// the payload bundle with this Node): the dry run lists what would go, the real run removes exactly
// that and gc frees the bytes, --json follows the one convention (JSON lines, result last).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { pull, pushImage, v2, type Pushed } from '../gc/helpers.js';
import { repoRoot } from '../helpers/registries.js';

const bin = path.join(repoRoot, 'bin/registry-setup.js');
const built = existsSync(path.join(repoRoot, 'dist/cli.mjs')) && existsSync(path.join(repoRoot, 'dist/registry/registry.mjs'));
if (!built && process.env.CI) throw new Error('dist/ is missing: npm test builds it first');
const DAY = 86_400_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
const cli = (args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });

/** Every file under dir gets the modification time `at` (blobs old enough for gc's grace). */
function ageTree(dir: string, at: number): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) ageTree(p, at);
    else utimesSync(p, new Date(at), new Date(at));
  }
}

describe('registry-setup retention --data --policy', { skip: built ? false : 'dist/ is missing: npm run build first' }, () => {
  let reg: TestRegistry;
  let policy: string;
  const pushed = new Map<string, Pushed>();
  const now = Date.now();

  before(async () => {
    reg = await startTestRegistry();
    policy = `${reg.dataDir}-policy.yaml`;
    // the section alone, as in registry-setup.yaml
    writeFileSync(policy, 'policies:\n  - repositories: ["ci/**"]\n    keepTags:\n      - mostRecentlyPushedCount: 2\n      - patterns: ["^release$"]\n');
    for (const tag of ['old-1', 'old-2', 'release', 'new-1', 'new-2']) {
      pushed.set(tag, await pushImage(reg, 'ci/app', `ci/app ${tag}`, { tag }));
    }
    pushed.set('other', await pushImage(reg, 'other/app', 'other', { tag: 'old' }));
    // pushed over five simulated days, oldest first; blobs and revisions older than gc's grace and
    // retention's delay (untagged manifests younger than it stay)
    ageTree(v2(reg.dataDir), now - 10 * DAY);
    for (const [i, tag] of ['old-1', 'old-2', 'release', 'new-1', 'new-2'].entries()) {
      const link = path.join(v2(reg.dataDir), 'repositories/ci/app/_manifests/tags', tag, 'current/link');
      utimesSync(link, new Date(now - (5 - i) * DAY), new Date(now - (5 - i) * DAY));
    }
  });
  after(async () => reg?.close());

  it('--dry-run lists the tags that would go (repository, tag, digest, pushed at, size) and the bytes; removes nothing', async () => {
    const r = await cli(['retention', '--data', reg.dataDir, '--policy', policy, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    for (const tag of ['old-1', 'old-2']) {
      assert.match(r.stdout, new RegExp(`would remove ci/app:${tag}  ${pushed.get(tag)!.digest}  pushed \\d{4}-\\d\\d-\\d\\dT[^ ]+  \\d+ B`), r.stdout);
    }
    assert.ok(!/release|new-|other/.test(r.stdout.split('\n').filter((l) => l.includes('would remove')).join('\n')), r.stdout);
    assert.match(r.stdout, /would free up to \d+/);
    assert.ok(existsSync(path.join(v2(reg.dataDir), 'repositories/ci/app/_manifests/tags/old-1')), 'a dry run removes nothing');

    const j = await cli(['retention', '--data', reg.dataDir, '--policy', policy, '--dry-run', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const lines = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const result = lines.at(-1)!;
    assert.equal(result.type, 'result');
    assert.equal(result.dryRun, true);
    const tags = (result.removedTags as { repository: string; tag: string; digest: string; pushedAt: string; size: number }[]).map((t) => `${t.repository}:${t.tag}`).sort();
    assert.deepEqual(tags, ['ci/app:old-1', 'ci/app:old-2']);
    assert.ok(Number(result.wouldFreeBytes) > 0, JSON.stringify(result));
  });

  it('without --dry-run applies, then gc frees the bytes; the kept tags still pull', async () => {
    const r = await cli(['retention', '--data', reg.dataDir, '--policy', policy, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(result.type, 'result');
    assert.equal((result.removedTags as unknown[]).length, 2);
    assert.ok(Number(result.freedBytes) > 0, JSON.stringify(result));
    const tagsDir = path.join(v2(reg.dataDir), 'repositories/ci/app/_manifests/tags');
    assert.deepEqual(readdirSync(tagsDir).sort(), ['new-1', 'new-2', 'release']);
    for (const tag of ['new-1', 'new-2', 'release']) assert.ok((await pull(reg, 'ci/app', tag)).length > 0);
    assert.ok((await pull(reg, 'other/app', 'old')).length > 0, 'a repository no policy names is untouched');
    // the removed tags' manifests are unreferenced now, and gc deleted them
    const gone = (result.removedManifests as { digest: string }[]).map((m) => m.digest).sort();
    assert.deepEqual(gone, [pushed.get('old-1')!.digest, pushed.get('old-2')!.digest].sort());
    for (const digest of gone) assert.ok(!existsSync(path.join(v2(reg.dataDir), 'blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data')), digest);
  });

  it('a bad policy is one line naming the key, no stack', async () => {
    const bad = `${reg.dataDir}-bad.yaml`;
    writeFileSync(bad, 'policies:\n  - keepTags: [{mostRecentlyPushedCount: -1}]\n');
    const r = await cli(['retention', '--data', reg.dataDir, '--policy', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /policy 1: keepTags 1: mostRecentlyPushedCount must be a whole number/);
    assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
    const none = await cli(['retention', '--data', reg.dataDir]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--data DIR and --policy FILE/);
    const missing = await cli(['retention', '--data', reg.dataDir, '--policy', `${reg.dataDir}-missing.yaml`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--policy \S+-missing\.yaml: cannot read it \(ENOENT\): give the path of a file holding the retention: rules/);
    writeFileSync(bad, 'policies: [unclosed\n');
    const notYaml = await cli(['retention', '--data', reg.dataDir, '--policy', bad]);
    assert.equal(notYaml.code, 1);
    assert.match(notYaml.stderr, /-bad\.yaml: not YAML or JSON: /);
    assert.ok(!/\n\s+at /.test(notYaml.stderr), notYaml.stderr);
  });
});
