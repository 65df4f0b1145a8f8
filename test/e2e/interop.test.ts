// On-disk compatibility with CNCF distribution (registry:2): a data dir written by one server must
// be served by the other with identical manifests, blobs and tags.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { assertFixturesRoundTrip, getTagsList, pushFixtures, withLogs, type Fixtures, type TagsList } from '../helpers/fixtures.js';
import { startDistribution, startOurRegistry, type RunningRegistry } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';

const REPOS = ['interop/app', 'interop/deeply/nested/repo'];

async function pushAll(reg: RunningRegistry, tmp: TempDirs): Promise<{ fixtures: Fixtures[]; tags: TagsList[] }> {
  const fixtures: Fixtures[] = [];
  for (const repo of REPOS) {
    fixtures.push(await pushFixtures(reg, tmp, repo, { imageTags: ['v1', 'latest', '1.0.0-rc_1'], indexTag: 'multi' }));
  }
  const tags: TagsList[] = [];
  for (const repo of REPOS) tags.push(await getTagsList(reg, repo));
  return { fixtures, tags };
}

async function verifyAll(reg: RunningRegistry, tmp: TempDirs, pushed: { fixtures: Fixtures[]; tags: TagsList[] }): Promise<void> {
  for (const fx of pushed.fixtures) await assertFixturesRoundTrip(reg, tmp, fx);
  for (const [i, repo] of REPOS.entries()) {
    const tags = await getTagsList(reg, repo);
    const writer = pushed.tags[i]!;
    // distribution 2.8 lists tags in directory order; the OCI spec (and our registry) sorts them
    assert.deepEqual({ name: tags.name, tags: [...tags.tags].sort() }, { name: writer.name, tags: [...writer.tags].sort() }, `tags list of ${repo}: ${reg.kind} disagrees with the writer`);
    assert.deepEqual([...tags.tags].sort(), ['1.0.0-rc_1', 'latest', 'multi', 'v1']);
    if (reg.kind === 'ours') assert.deepEqual(tags.tags, [...tags.tags].sort(), `our tags list of ${repo} is not in lexical order`);
  }
}

describe('interop with distribution (registry:2) on the same data dir', () => {
  const tmp = new TempDirs();
  const running = new Set<RunningRegistry>();
  after(async () => {
    for (const r of running) await r.stop().catch(() => undefined);
    await tmp.cleanup();
  });

  async function start(kind: 'ours' | 'distribution', dataDir: string): Promise<RunningRegistry> {
    const r = kind === 'ours' ? await startOurRegistry({ dataDir }) : await startDistribution({ dataDir });
    running.add(r);
    return r;
  }
  async function stop(r: RunningRegistry): Promise<void> {
    const info = await r.stop();
    running.delete(r);
    assert.equal(info.killed, false, `${r.kind} registry did not exit on SIGTERM within the grace period\n${r.logTail()}`);
  }

  test('written by distribution, served by ours', async () => {
    const data = await tmp.make('rs-interop-d1-');
    const dist = await start('distribution', data);
    const pushed = await withLogs(dist, () => pushAll(dist, tmp));
    await stop(dist);

    const ours = await start('ours', data);
    await withLogs(ours, () => verifyAll(ours, tmp, pushed));
    await stop(ours);
  });

  test('written by ours, served by distribution', async () => {
    const data = await tmp.make('rs-interop-d2-');
    const ours = await start('ours', data);
    const pushed = await withLogs(ours, () => pushAll(ours, tmp));
    await stop(ours);

    const dist = await start('distribution', data);
    await withLogs(dist, () => verifyAll(dist, tmp, pushed));
    await stop(dist);
  });
});
