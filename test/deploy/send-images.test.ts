// --send-images without a host: which images are sent (pure), and the one-line refusals when this
// machine's Docker lacks an image or there is no docker command at all (a stand-in `docker` on PATH).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { baseImages, localImageSizes, planImageSends } from '../../src/deploy/send-images.js';
import { SettingsError } from '../../src/settings/resolve.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

describe('which base images are sent', () => {
  it('each image once; only those the host lacks', () => {
    assert.deepEqual(baseImages({ nodeImage: 'node:22', nginxImage: 'nginx:1' }), ['node:22', 'nginx:1']);
    assert.deepEqual(baseImages({ nodeImage: 'same:1', nginxImage: 'same:1' }), ['same:1']);
    assert.deepEqual(planImageSends(['node:22', 'nginx:1'], new Set()), { send: ['node:22', 'nginx:1'], present: [] });
    assert.deepEqual(planImageSends(['node:22', 'nginx:1'], new Set(['nginx:1'])), { send: ['node:22'], present: ['nginx:1'] });
    assert.deepEqual(planImageSends(['node:22', 'nginx:1'], new Set(['nginx:1', 'node:22', 'x'])), { send: [], present: ['node:22', 'nginx:1'] });
  });
});

describe("this machine's Docker", () => {
  let bin = '';
  let savedPath: string | undefined;
  before(async () => {
    bin = await makeTempDir('rs-send-bin-');
    // answers `docker image inspect --format {{.Size}} IMAGE` like Docker does: a size, or "No such image"
    writeFileSync(
      path.join(bin, 'docker'),
      '#!/bin/sh\n[ "$1 $2" = "image inspect" ] || exit 2\ncase "$5" in\n  here:1) echo 1234 ;;\n  broken:1) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1 ;;\n  *) echo "Error response from daemon: No such image: $5" >&2; exit 1 ;;\nesac\n',
    );
    chmodSync(path.join(bin, 'docker'), 0o755);
    savedPath = process.env.PATH;
  });
  after(async () => {
    process.env.PATH = savedPath;
    await removeDir(bin);
  });

  it('gives each image’s size for the progress', async () => {
    process.env.PATH = `${bin}:${savedPath}`;
    assert.deepEqual([...(await localImageSizes(['here:1']))], [['here:1', 1234]]);
  });

  it('a missing image is one line that says how to get it', async () => {
    process.env.PATH = `${bin}:${savedPath}`;
    await assert.rejects(localImageSizes(['here:1', 'gone:2']), (err: Error) => {
      assert.ok(err instanceof SettingsError);
      assert.equal(err.message, "--send-images: gone:2 is not in this machine's Docker; pull it here first (docker pull gone:2)");
      return true;
    });
  });

  it('a Docker that does not answer is one line with its reason', async () => {
    process.env.PATH = `${bin}:${savedPath}`;
    await assert.rejects(localImageSizes(['broken:1']), /^Error: --send-images: cannot ask this machine's Docker about broken:1: Cannot connect to the Docker daemon/);
  });

  it('no docker command at all is one line', async () => {
    process.env.PATH = path.join(bin, 'nothing-here');
    await assert.rejects(localImageSizes(['here:1']), (err: Error) => {
      assert.ok(err instanceof SettingsError);
      assert.match(err.message, /^--send-images sends the base images from this machine's Docker, but there is no docker command here/);
      return true;
    });
  });
});
