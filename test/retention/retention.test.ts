import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../registry/harness.js';
import { assertConsistent, pull, pushImage, pushIndex, v2, type Pushed } from '../gc/helpers.js';
import { retentionCommand } from '../../src/registry/retention/retention-command.js';
import type { RetentionReport } from '../../src/registry/retention/apply.js';
import type { GcReport } from '../../src/registry/gc/collect.js';
import { keptTags, parseRetention } from '../../src/registry/retention/policy.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

const POLICY = `
retention:
  delay: 24h
  policies:
    - repositories: ["app/web"]
      keepTags:
        - patterns: ["^build-"]
          mostRecentlyPushedCount: 10
        - patterns: ["^build-"]
          pulledWithin: 168h
    - repositories: ["app/api"]
      keepTags:
        - patterns: ["^v1\\\\."]
          pushedWithin: 72h
        - mostRecentlyPulledCount: 2
    - repositories: ["tools/**"]
      keepTags:
        - patterns: ["^stable$"]
        - mostRecentlyPushedCount: 5
`;

/** Every blob digest in the store. */
function storedBlobs(dataDir: string): Set<string> {
  const out = new Set<string>();
  const root = path.join(v2(dataDir), 'blobs/sha256');
  if (!existsSync(root)) return out;
  for (const prefix of readdirSync(root)) for (const hex of readdirSync(path.join(root, prefix))) if (existsSync(path.join(root, prefix, hex, 'data'))) out.add(`sha256:${hex}`);
  return out;
}

/** Sets a file tree's modification times to `at` (the simulated moment of its push). */
function age(file: string, at: number): void {
  if (existsSync(file)) utimesSync(file, new Date(at), new Date(at));
}

function ageImage(dataDir: string, repo: string, tag: string | undefined, p: { all: string[]; digest: string }, at: number): void {
  const r = path.join(v2(dataDir), 'repositories', repo, '_manifests');
  if (tag) {
    age(path.join(r, 'tags', tag, 'current/link'), at);
    age(path.join(r, 'tags', tag, 'index/sha256', p.digest.slice(7), 'link'), at);
  }
  age(path.join(r, 'revisions/sha256', p.digest.slice(7), 'link'), at);
}

async function runRetentionCli(args: string[]): Promise<{ retention: RetentionReport; gc: GcReport | null; stderr: string }> {
  let stdout = '';
  let stderr = '';
  await retentionCommand({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }).parseAsync([...args, '--json'], { from: 'user' });
  return { ...(JSON.parse(stdout) as { retention: RetentionReport; gc: GcReport | null }), stderr };
}

describe('retention', () => {
  let reg: TestRegistry;
  let policyFile: string;
  const now = Date.now();
  /** repository → tag → pushed image */
  const images = new Map<string, Map<string, Pushed>>();
  const extra: Record<string, Pushed | { digest: string }> = {};

  before(async () => {
    reg = await startTestRegistry();
    policyFile = path.join(reg.dataDir, '..', `${path.basename(reg.dataDir)}-policy.yaml`);
    writeFileSync(policyFile, POLICY);
    // 200 tags over ten simulated weeks: each repository shares a base layer between its images
    const plan: [string, (i: number) => string, number][] = [
      ['app/web', (i) => `build-${i}`, 80],
      ['app/api', (i) => `v1.${i}`, 50],
      ['tools/cli', (i) => (i === 0 ? 'stable' : `t${i}`), 40],
      ['keep/all', (i) => `k${i}`, 30],
    ];
    for (const [repo, name, n] of plan) {
      const tags = new Map<string, Pushed>();
      images.set(repo, tags);
      for (let i = 0; i < n; i++) {
        const tag = name(i);
        const p = await pushImage(reg, repo, `${repo} ${tag}`, { tag, layers: [`base of ${repo}`, `only in ${repo}:${tag}`] });
        tags.set(tag, p);
        ageImage(reg.dataDir, repo, tag, p, now - 70 * DAY + (i * 70 * DAY) / n);
      }
    }
    // app/web:build-79 (kept, the newest) becomes an index over two old untagged images, and
    // build-78 gets a signature (a referrer); build-0 (not kept) gets one too.
    const web = images.get('app/web')!;
    const childA = await pushImage(reg, 'app/web', 'child a');
    const childB = await pushImage(reg, 'app/web', 'child b');
    const index = await pushIndex(reg, 'app/web', [childA, childB], 'build-79');
    for (const c of [childA, childB]) ageImage(reg.dataDir, 'app/web', undefined, c, now - 30 * DAY);
    ageImage(reg.dataDir, 'app/web', 'build-79', { digest: index.digest, all: [] }, now - HOUR);
    ageImage(reg.dataDir, 'app/web', undefined, web.get('build-79')!, now - 30 * DAY); // the image the tag named before: untagged now
    const sign = async (subject: Pushed, seed: string) => {
      const s = await pushImage(reg, 'app/web', seed, { configMediaType: 'application/vnd.dev.cosign.artifact.sig.v1+json', extra: { subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject.digest, size: subject.size } } });
      ageImage(reg.dataDir, 'app/web', undefined, s, now - 20 * DAY);
      return s;
    };
    extra.childA = childA;
    extra.childB = childB;
    extra.index = index;
    extra.sig78 = await sign(web.get('build-78')!, 'signature of 78');
    extra.sig0 = await sign(web.get('build-0')!, 'signature of 0');
    // an old untagged image in app/api (goes) and one pushed an hour ago (younger than the delay: stays)
    extra.oldUntagged = await pushImage(reg, 'app/api', 'old untagged');
    ageImage(reg.dataDir, 'app/api', undefined, extra.oldUntagged as Pushed, now - 10 * DAY);
    extra.youngUntagged = await pushImage(reg, 'app/api', 'young untagged');
    // and one in keep/all, which no policy names: untouched
    extra.keepUntagged = await pushImage(reg, 'keep/all', 'untagged but untouched');
    ageImage(reg.dataDir, 'keep/all', undefined, extra.keepUntagged as Pushed, now - 10 * DAY);

    // pull times as the registry records them: app/web build-20 and build-21 within the week,
    // build-22 three weeks ago; app/api v1.3 and v1.4 most recently pulled, v1.5 long before
    mkdirSync(path.join(v2(reg.dataDir), '_retention'), { recursive: true });
    const iso = (t: number) => new Date(t).toISOString();
    writeFileSync(
      path.join(v2(reg.dataDir), '_retention/pulled.json'),
      JSON.stringify({
        'app/web:build-20': iso(now - 2 * DAY),
        [`app/web@${web.get('build-21')!.digest}`]: iso(now - 6 * DAY),
        'app/web:build-22': iso(now - 21 * DAY),
        'app/api:v1.3': iso(now - 40 * DAY),
        'app/api:v1.4': iso(now - 41 * DAY),
        'app/api:v1.5': iso(now - 50 * DAY),
      }),
    );
  });
  after(async () => reg.close());

  it('keeps exactly the tags the rules keep, removes what nothing reaches, and what stays pulls', { timeout: 120_000 }, async () => {
    const before = storedBlobs(reg.dataDir);
    const dry = await runRetentionCli(['--data', reg.dataDir, '--policy', policyFile, '--dry-run']);
    assert.equal(storedBlobs(reg.dataDir).size, before.size, 'a dry run removes nothing');

    const expected: Record<string, string[]> = {
      // the 10 most recently pushed, and those pulled within a week (by tag or by digest)
      'app/web': [...Array.from({ length: 10 }, (_, i) => `build-${70 + i}`), 'build-20', 'build-21'],
      // pushed within 72 h (v1.49 at now-1.4d, v1.48 at now-2.8d), and the 2 most recently pulled
      'app/api': ['v1.48', 'v1.49', 'v1.3', 'v1.4'],
      'tools/cli': ['stable', 't35', 't36', 't37', 't38', 't39'],
      'keep/all': [...images.get('keep/all')!.keys()],
    };
    const dryRemoved = new Set(dry.retention.removedTags.map((t) => `${t.repository}:${t.tag}`));
    let total = 0;
    for (const [repo, tags] of images) {
      for (const tag of tags.keys()) {
        total++;
        assert.equal(!dryRemoved.has(`${repo}:${tag}`), expected[repo]!.includes(tag), `${repo}:${tag} in the dry run`);
      }
    }
    assert.equal(total, 200);
    assert.ok(dry.retention.removedTags.every((t) => t.size > 0 && Date.parse(t.pushedAt) < now));

    const stateFile = path.join(reg.dataDir, '..', `${path.basename(reg.dataDir)}-state`, 'retention.json');
    const { retention, gc } = await runRetentionCli(['--data', reg.dataDir, '--policy', policyFile, '--grace', '0s', '--settle', '50ms', '--state-file', stateFile]);
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { ok: boolean; deletedTags: number; freedBytes: number };
    assert.deepEqual([state.ok, state.deletedTags, state.freedBytes], [true, retention.removedTags.length, gc!.freedBytes], 'the record metrics and status read');
    assert.deepEqual(
      retention.removedTags.map((t) => `${t.repository}:${t.tag}`).sort(),
      [...dryRemoved].sort(),
      'the run removes what the dry run listed',
    );
    for (const [repo, keep] of Object.entries(expected)) {
      const res = await reg.fetch(`/v2/${repo}/tags/list`);
      const body = (await res.json()) as { tags: string[] };
      assert.deepEqual(body.tags.sort(), [...keep].sort(), `tags of ${repo}`);
    }

    // Exactly these blobs remain: every kept image's, the index's children, build-78's signature,
    // the young untagged image, everything in keep/all (its untagged image too).
    const live = new Set<string>();
    for (const [repo, keep] of Object.entries(expected)) for (const tag of keep) if (!(repo === 'app/web' && tag === 'build-79')) images.get(repo)!.get(tag)!.all.forEach((d) => live.add(d));
    for (const k of ['childA', 'childB', 'sig78', 'youngUntagged', 'keepUntagged'] as const) (extra[k] as Pushed).all.forEach((d) => live.add(d));
    live.add(extra.index!.digest);
    assert.deepEqual([...storedBlobs(reg.dataDir)].sort(), [...live].sort(), 'exactly the blobs of what is kept remain');
    assert.ok(gc && gc.freedBytes > 0);
    const removedManifests = new Set(retention.removedManifests.map((m) => m.digest));
    assert.ok(removedManifests.has((extra.sig0 as Pushed).digest), 'a referrer goes with its subject');
    assert.ok(removedManifests.has((extra.oldUntagged as Pushed).digest));
    assert.ok(!removedManifests.has((extra.keepUntagged as Pushed).digest));

    for (const [repo, keep] of Object.entries(expected)) for (const tag of keep) await pull(reg, repo, tag);
    for (const k of ['childA', 'childB', 'sig78'] as const) await pull(reg, 'app/web', (extra[k] as Pushed).digest);
    assertConsistent(reg.dataDir);
  });

  it('a push racing the run is never lost, neither a new tag nor a re-push of a tag the rules remove', { timeout: 120_000 }, async () => {
    const pushed: { tag: string; digest: string; at: number }[] = [];
    let stop = false;
    const racer = (async () => {
      for (let i = 0; i < 400 && !stop; i++) {
        // no rule keeps other-*: "other-again" is removed whenever a run finds it, unless pushed meanwhile
        const tag = i % 2 === 0 ? 'other-again' : `other-${i}`;
        const p = await pushImage(reg, 'app/web', `racer ${i}`, { tag });
        pushed.push({ tag, digest: p.digest, at: Date.now() });
      }
    })();
    const deadline = Date.now() + 10_000;
    while (pushed.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const runStarted = Date.now();
    // gc's own race with pushes (a blob collected before its manifest arrives: the client pushes
    // again) is test/gc/race.test.ts's subject; with a 1 h grace this run's gc keeps young blobs
    const { retention } = await runRetentionCli(['--data', reg.dataDir, '--policy', policyFile, '--grace', '1h', '--settle', '300ms']);
    const runEnded = Date.now();
    stop = true;
    await racer;
    const racing = pushed.filter((p) => p.at >= runStarted && p.at <= runEnded);
    assert.ok(racing.length >= 3, `only ${racing.length} pushes during the run`);
    // every push acknowledged during the run is there: the last push of each tag pulls, with its digest
    const last = new Map(pushed.filter((p) => p.at >= runStarted).map((p) => [p.tag, p.digest]));
    for (const [tag, digest] of last) {
      const got = await pull(reg, 'app/web', tag);
      assert.equal(got[0], digest, `app/web:${tag} after the run`);
    }
    console.log(`retention race: ${racing.length} pushes during the run; ${retention.keptForRacingPush} link(s) put back; ${retention.removedTags.length} tag(s) removed`);
    assertConsistent(reg.dataDir);
  });
});

describe('pull times', () => {
  it('the registry notes pulls by tag and by digest and writes them into the store when it stops', async () => {
    const reg = await startTestRegistry();
    let closed = false;
    try {
      const p = await pushImage(reg, 'pulls/app', 'pulled', { tag: 'v1' });
      const before = Date.now();
      assert.equal((await reg.fetch('/v2/pulls/app/manifests/v1')).status, 200);
      assert.equal((await reg.fetch(`/v2/pulls/app/manifests/${p.digest}`)).status, 200);
      assert.equal((await reg.fetch('/v2/pulls/app/manifests/v1', { method: 'HEAD' })).status, 200);
      await reg.running.close();
      closed = true;
      const pulled = JSON.parse(readFileSync(path.join(v2(reg.dataDir), '_retention/pulled.json'), 'utf8')) as Record<string, string>;
      assert.deepEqual(Object.keys(pulled).sort(), ['pulls/app:v1', `pulls/app@${p.digest}`].sort());
      for (const t of Object.values(pulled)) assert.ok(Date.parse(t) >= before - 1000);
    } finally {
      if (!closed) await reg.running.close();
      rmSync(reg.dataDir, { recursive: true, force: true });
    }
  });
});

describe('retention rules (zot meaning)', () => {
  it('a tag is kept when any keepTags rule keeps it; without keepTags every tag is', () => {
    const rules = parseRetention(
      { policies: [{ repositories: ['a'], keepTags: [{ patterns: ['^rel'], mostRecentlyPushedCount: 1 }, { pulledWithin: '1h' }] }, { repositories: ['b'], deleteUntagged: true }] },
      'test',
    );
    const tags = [
      { tag: 'rel-1', digest: 'x', pushedAt: 1 },
      { tag: 'rel-2', digest: 'x', pushedAt: 2 },
      { tag: 'dev', digest: 'x', pushedAt: 3, pulledAt: 10 * HOUR - 10 },
      { tag: 'old', digest: 'x', pushedAt: 0, pulledAt: 1 },
    ];
    assert.deepEqual([...keptTags(rules.policies[0]!, tags, 10 * HOUR)].sort(), ['dev', 'rel-2']);
    assert.deepEqual([...keptTags(rules.policies[1]!, tags, 10 * HOUR)].sort(), ['dev', 'old', 'rel-1', 'rel-2']);
    assert.throws(() => parseRetention({ policies: [{ repoNames: ['a'] }] }, 'test'), /unknown key repoNames/);
  });
});
