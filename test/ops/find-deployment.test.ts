// Finding a deployment on a host when --dir is not given: the pure parts (which directories the
// compose labels name, what several found deployments say) and the small shell scripts, run here
// with sh as sshd would run them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { composeDirectories, COMPOSE_LABELS_ARGV, emptyDirArgv, pickDeployment, withRecordArgv } from '../../src/ops/find-deployment.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

const sh = (argv: readonly string[]) => spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });

describe('finding a deployment by its containers', () => {
  it('asks docker for every compose container, stopped ones too, with the three labels', () => {
    assert.deepEqual(COMPOSE_LABELS_ARGV.slice(0, 5), ['docker', 'ps', '-a', '--filter', 'label=com.docker.compose.project']);
    assert.equal(
      COMPOSE_LABELS_ARGV[6],
      '{{.Label "com.docker.compose.project"}}\t{{.Label "com.docker.compose.project.working_dir"}}\t{{.Label "com.docker.compose.project.config_files"}}',
    );
  });

  it('takes the working directories and the compose files’ directories, each once, sorted', () => {
    const out = [
      'registry-setup\t/srv/registry\t/srv/registry/compose.yaml',
      'registry-setup\t/srv/registry\t/srv/registry/compose.yaml',
      'other\t/home/me/app/\t/home/me/app/docker-compose.yml,/home/me/app/override.yml',
      'v1-old\t\t/opt/b/compose.yaml',
      'weird\trelative\trelative/compose.yaml',
      '',
    ].join('\n');
    assert.deepEqual(composeDirectories(out), ['/home/me/app', '/opt/b', '/srv/registry']);
    assert.deepEqual(composeDirectories(out, 'registry-setup'), ['/srv/registry'], 'a known project narrows the search');
    assert.deepEqual(composeDirectories(out, 'nope'), []);
    assert.deepEqual(composeDirectories(''), []);
  });

  it('one deployment is used; several are one line with the --dir of each; none is undefined', () => {
    assert.equal(pickDeployment([], '/opt/registry-setup', 'h'), undefined);
    assert.equal(pickDeployment(['/srv/a'], '/opt/registry-setup', 'h'), '/srv/a');
    assert.throws(
      () => pickDeployment(['/srv/a', '/srv/b'], '/opt/registry-setup', 'host1'),
      (err: Error) => err.message === 'no registry-setup deployment in /opt/registry-setup on host1, but 2 elsewhere: pass --dir /srv/a or --dir /srv/b' && !err.message.includes('\n'),
    );
  });

  it('the scripts: an empty or missing default directory, and which directories hold registry-setup.json', async () => {
    const root = await makeTempDir('rs-find-');
    try {
      const empty = path.join(root, 'empty');
      const full = path.join(root, 'full');
      const dotted = path.join(root, 'dotted');
      for (const d of [empty, full, dotted]) mkdirSync(d);
      writeFileSync(path.join(full, 'registry-setup.json'), '{}');
      writeFileSync(path.join(dotted, '.hidden'), '');
      assert.equal(sh(emptyDirArgv(path.join(root, 'missing'))).status, 0);
      assert.equal(sh(emptyDirArgv(empty)).status, 0);
      assert.equal(sh(emptyDirArgv(full)).status, 1);
      assert.equal(sh(emptyDirArgv(dotted)).status, 1, 'a hidden file counts as something there');
      const r = sh(withRecordArgv([empty, full, path.join(root, 'missing'), dotted]));
      assert.equal(r.status, 0);
      assert.equal(r.stdout, `${full}\n`);
    } finally {
      await removeDir(root);
    }
  });
});
