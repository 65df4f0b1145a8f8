import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { countContent } from '../../src/registry/count-command.js';
import { ourRegistryBundle } from '../helpers/registries.js';
import { pushBlob, pushImage, startTestRegistry, type TestRegistry } from './harness.js';

const run = promisify(execFile);

describe('the count command (status for a bucket)', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
    await pushImage(reg, 'team/web', '1.0');
    await pushImage(reg, 'team/web', 'latest');
    await pushImage(reg, 'tools', 'v2');
    // A repository with only a blob has no _manifests yet: the catalog does not list it, nor do we.
    await pushBlob(reg, 'blobs-only', 'just a layer');
  });
  after(() => reg.close());

  it('counts repositories and their tags as the catalog sees them', async () => {
    assert.deepEqual(await countContent({ data: reg.dataDir }), { repositories: 2, tags: 3 });
    const catalog = (await (await reg.fetch('/v2/_catalog')).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['team/web', 'tools']);
  });

  it('is a subcommand of the payload that prints JSON, and refuses a data directory that is not there', async () => {
    const { stdout } = await run(process.execPath, [ourRegistryBundle, 'count', '--data', reg.dataDir]);
    assert.deepEqual(JSON.parse(stdout), { repositories: 2, tags: 3 });
    // The container runs it with only its environment to say where the content is.
    const env = await run(process.execPath, [ourRegistryBundle, 'count'], { env: { ...process.env, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: reg.dataDir } });
    assert.deepEqual(JSON.parse(env.stdout), { repositories: 2, tags: 3 });
    const missing = await run(process.execPath, [ourRegistryBundle, 'count', '--data', `${reg.dataDir}/nope`]).then(
      () => assert.fail('a missing data directory was counted'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^registry: .*\/nope: no such data directory \(set --data\)\n$/);
  });
});
