// notify: of registry-setup.yaml: checked by the registry's parser, written for the registry's uid
// with the HMAC secret in a 0600 file of its own (never in compose.yaml), and read back by the
// registry's endpoints parser exactly as deploy wrote it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { composeDocument } from '../../src/templates/render.js';
import { notifyFiles, renderDeploymentFiles, startPlan } from '../../src/provision/index.js';
import { completeSettings, loadConfigFile } from '../../src/settings/resolve.js';
import { readNotifySecrets } from '../../src/settings/notify.js';
import { readEndpointsFile } from '../../src/registry/events/endpoints.js';
import { parseDuration } from '../../src/registry/config.js';
import { makeTempDir, removeDir } from '../helpers/tmp.js';

const SECRET = 'hmac-secret-0123456789abcdef';

describe('notify: endpoints on a deployment', () => {
  it('registry-setup.yaml\'s notify: is checked by the registry\'s parser; errors name the key', async () => {
    const dir = await makeTempDir('rs-notify-settings-');
    try {
      const file = path.join(dir, 'registry-setup.yaml');
      writeFileSync(file, 'notify:\n  - url: https://hooks.example.com/registry\n    actions: [push, delete]\n    timeout: 3s\n');
      assert.equal((await loadConfigFile(file)).notify!.length, 1);
      writeFileSync(file, 'notify:\n  - url: ftp://hooks.example.com/\n');
      await assert.rejects(loadConfigFile(file), /notify: endpoint 1: ftp:\/\/hooks\.example\.com\/ must be http:\/\/ or https:\/\//);
      writeFileSync(file, 'notify:\n  - url: https://h.example.com/\n    actions: [push, tag]\n');
      await assert.rejects(loadConfigFile(file), /notify: endpoint 1: actions must be a list of push, pull, delete/);
      writeFileSync(file, 'notify: https://h.example.com/\n');
      await assert.rejects(loadConfigFile(file), /notify must be a list of endpoints/);
    } finally {
      await removeDir(dir);
    }
  });

  it('the secret goes to a 0600 file of the registry\'s uid; endpoints.yaml names its container path, and the registry parses both back', async () => {
    const dir = await makeTempDir('rs-notify-files-');
    try {
      const local = path.join(dir, 'hook.secret');
      writeFileSync(local, `${SECRET}\n`);
      const notify = [{ name: 'ci', url: 'https://hooks.example.com/r', headers: { Authorization: 'Bearer t0ken' }, hmacSecretFile: local }, { url: 'http://10.0.0.9:8080/events', actions: ['push'] }];
      const secrets = await readNotifySecrets(notify);
      assert.deepEqual(secrets, { ci: SECRET });
      const files = notifyFiles({ dir: '/opt/rs', notify }, secrets);
      assert.deepEqual(files.map((f) => [f.path, f.mode, f.owner, f.sensitive]), [
        ['/opt/rs/notify/endpoints.yaml', 0o600, 1000, true],
        ['/opt/rs/notify/ci.hmac', 0o600, 1000, true],
      ]);
      const endpointsYaml = String(files[0]!.content);
      assert.ok(!endpointsYaml.includes(SECRET) && !endpointsYaml.includes(local), endpointsYaml);
      assert.match(endpointsYaml, /hmacSecretFile: \/etc\/registry-setup\/notify\/ci\.hmac/);
      // as the registry sees them: the mount of notify/ at /etc/registry-setup/notify
      const mount = path.join(dir, 'mount');
      mkdirSync(mount);
      writeFileSync(path.join(mount, 'ci.hmac'), String(files[1]!.content));
      writeFileSync(path.join(mount, 'endpoints.yaml'), endpointsYaml.replaceAll('/etc/registry-setup/notify', mount));
      const parsed = readEndpointsFile(path.join(mount, 'endpoints.yaml'), parseDuration);
      assert.equal(parsed[0]!.hmacSecret, SECRET);
      assert.deepEqual(parsed[0]!.headers, { Authorization: 'Bearer t0ken' });
      assert.equal(parsed[1]!.name, 'endpoint-2');
      assert.deepEqual([...parsed[1]!.actions], ['push']);
      await assert.rejects(readNotifySecrets([{ url: 'https://h.example.com/', hmacSecretFile: path.join(dir, 'missing') }]), /notify: endpoint 1: cannot read hmacSecretFile .*missing here \(ENOENT\)/);
    } finally {
      await removeDir(dir);
    }
  });

  it('compose.yaml mounts notify/ read-only and names it in the environment, never the secret', () => {
    const notify = [{ url: 'https://hooks.example.com/r', hmacSecretFile: '/home/me/secret' }];
    const doc = composeDocument({ dataDir: '/srv/data', httpPort: 80, httpsPort: 443, nginxImage: 'nginx:1', notify }, { version: '1.0.0', auth: true }) as { services: { registry: { environment: Record<string, string>; volumes: string[] } } };
    const reg = doc.services.registry;
    assert.equal(reg.environment.REGISTRY_NOTIFICATIONS_CONFIG, '/etc/registry-setup/notify/endpoints.yaml');
    assert.equal(reg.environment.REGISTRY_NOTIFICATIONS_DIRECTORY, '/var/lib/registry-setup/state/events');
    assert.ok(reg.volumes.includes('./notify:/etc/registry-setup/notify:ro'), reg.volumes.join(' '));
    assert.ok(!JSON.stringify(doc).includes('/home/me/secret'));
    const without = composeDocument({ dataDir: '/srv/data', httpPort: 80, httpsPort: 443, nginxImage: 'nginx:1' }, { version: '1.0.0', auth: true }) as { services: { registry: { environment: Record<string, string> } } };
    assert.equal(without.services.registry.environment.REGISTRY_NOTIFICATIONS_CONFIG, undefined);
  });

  it('deploy writes notify/ with the secrets; upgrade (no secrets given) leaves the host\'s copy; a change recreates the registry', () => {
    const settings = completeSettings({ target: 'root@h', domain: 'r.example.com', user: 'a', tls: 'self-signed', dir: '/opt/rs', notify: [{ name: 'ci', url: 'https://h.example.com/', hmacSecretFile: '/local/secret' }] });
    const payload = [{ path: 'registry.mjs', content: 'x' }];
    const deployed = renderDeploymentFiles(settings, { version: '1.0.0', registryPayload: payload, notifySecrets: { ci: SECRET } });
    assert.ok(deployed.files.some((f) => f.path === '/opt/rs/notify/ci.hmac'));
    assert.ok(deployed.directories.some((d) => d.path === '/opt/rs/notify' && d.mode === 0o750 && d.group === 1000));
    const upgraded = renderDeploymentFiles(settings, { version: '1.0.0', registryPayload: payload });
    assert.ok(!upgraded.files.some((f) => f.path.includes('/notify/')));
    const plan = startPlan({
      target: { kind: 'v2', dir: '/opt/rs' },
      version: '1.0.0',
      composeInstalled: true,
      changedFiles: ['/opt/rs/notify/ci.hmac'],
      containers: [{ service: 'registry', state: 'running', image: 'registry-setup/registry:1.0.0' }, { service: 'nginx', state: 'running', image: 'nginx' }],
      imagePresent: true,
    });
    assert.equal(plan.recreate, true);
  });
});
