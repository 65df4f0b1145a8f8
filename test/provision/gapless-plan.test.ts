// upgrade's gapless switch as a pure plan: what runs, in which order, for each situation; and the
// second slot in compose.yaml and nginx.conf that the plan switches between.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import type { DeploySettings } from '../../src/settings/settings.js';
import { renderDeploymentFiles, type ComposeTarget, type ContainerFact, type RenderDeploymentOptions } from '../../src/provision/index.js';
import { gaplessUpgradePlan } from '../../src/provision/gapless-plan.js';
import { DEPLOY_SETTINGS } from './settings-fixture.js';

const settings: DeploySettings = DEPLOY_SETTINGS;
const opts: RenderDeploymentOptions = { version: '0.2.0', registryPayload: [{ path: 'registry.mjs', content: 'export {};\n' }], uploadSecret: 'x'.repeat(43) };
const target: ComposeTarget = { kind: 'v1', dir: '/opt/registry-setup', project: 'rs' };
const compose = (...args: string[]) => ['docker-compose', '-p', 'rs', '-f', '/opt/registry-setup/compose.yaml', ...args];
const RELOAD = ['sh', '-c', 'i=1; until "$@"; do if [ "$i" -ge 10 ]; then exit 1; fi; i=$((i + 1)); sleep 1; done', 'sh', ...compose('exec', '-T', 'nginx', 'nginx', '-c', '/etc/registry-setup/nginx/nginx.conf', '-s', 'reload')];
const NGINX_TEST = compose('exec', '-T', 'nginx', 'nginx', '-c', '/etc/registry-setup/nginx/nginx.conf', '-t', '-q');
const stack = (version = '0.1.0'): ContainerFact[] => [
  { service: 'registry', state: 'running', image: `registry-setup/registry:${version}` },
  { service: 'nginx', state: 'running', image: 'nginx:1.27-alpine' },
];
const fileOf = (files: { path: string; content: string | Buffer }[], name: string) => String(files.find((f) => f.path.endsWith(name))!.content);

describe('gapless upgrade plan', () => {
  test('a new version: the new image beside the old one, nginx to it, the registry replaced, nginx back, the second slot removed', () => {
    const plan = gaplessUpgradePlan({ target, version: '0.2.0', changedFiles: ['/opt/registry-setup/compose.yaml'], containers: stack(), nginxServiceChanged: false });
    assert.equal(plan.needed, true);
    // every command on the second slot names its profile
    assert.deepEqual(plan.startNext, [compose('--profile', 'upgrade', 'up', '-d', '--no-deps', '--force-recreate', 'registry-next')]);
    assert.deepEqual(plan.nextHealthcheck, compose('--profile', 'upgrade', 'exec', '-T', 'registry-next', 'node', '/app/registry.mjs', 'healthcheck'));
    assert.deepEqual(plan.nextLogTail, compose('--profile', 'upgrade', 'logs', '--no-color', '--tail', '15', 'registry-next'));
    assert.deepEqual(plan.toNext, { upstream: 'registry-next', commands: [NGINX_TEST, RELOAD] });
    // the old registry is stopped only now, with its grace period to finish what nginx's old workers sent
    assert.deepEqual(plan.replaceRegistry, [compose('up', '-d', '--no-deps', '--force-recreate', '-t', '40', 'registry')]);
    assert.deepEqual(plan.registryHealthcheck, compose('exec', '-T', 'registry', 'node', '/app/registry.mjs', 'healthcheck'));
    assert.deepEqual(plan.toRegistry, { upstream: 'registry', commands: [NGINX_TEST, RELOAD] });
    assert.deepEqual(plan.removeNext, [compose('--profile', 'upgrade', 'rm', '--stop', '--force', 'registry-next')]);
    assert.deepEqual(plan.recreateNginx, [], 'nginx keeps its clients');
    assert.deepEqual(plan.reloadOnly, []);
  });

  test("nginx's own service changed: it is recreated at the end (the only step with a gap)", () => {
    const plan = gaplessUpgradePlan({ target, version: '0.2.0', changedFiles: ['/opt/registry-setup/compose.yaml'], containers: stack(), nginxServiceChanged: true });
    assert.deepEqual(plan.recreateNginx, [compose('up', '-d', '--no-deps', 'nginx')]);
  });

  test('same version, nothing changed: nothing runs, no slot is started', () => {
    const plan = gaplessUpgradePlan({ target, version: '0.1.0', changedFiles: [], containers: stack(), nginxServiceChanged: false });
    assert.equal(plan.needed, false);
    assert.deepEqual([plan.startNext, plan.replaceRegistry, plan.removeNext, plan.recreateNginx, plan.reloadOnly], [[], [], [], [], []]);
  });

  test('same version, only nginx.conf changed: a reload, no switch', () => {
    const plan = gaplessUpgradePlan({ target, version: '0.1.0', changedFiles: ['/opt/registry-setup/nginx/nginx.conf'], containers: stack(), nginxServiceChanged: false });
    assert.deepEqual([plan.needed, plan.startNext, plan.reloadOnly], [false, [], [RELOAD]]);
  });

  test('a new upload secret alone: both processes must sign alike, so the switch runs', () => {
    const plan = gaplessUpgradePlan({ target, version: '0.1.0', changedFiles: ['/opt/registry-setup/upload-secret'], containers: stack(), nginxServiceChanged: false });
    assert.equal(plan.needed, true);
    assert.equal(plan.startNext.length, 1);
  });
});

describe('the second slot in the rendered files', () => {
  const files = renderDeploymentFiles(settings, opts).files;
  const doc = parseYaml(fileOf(files, '/compose.yaml')) as { services: Record<string, Record<string, unknown>> };

  test('registry-next is the registry service with a profile: same image, user, hardening, mounts, health check; no build, no ports', () => {
    const registry = doc.services.registry!;
    const next: Record<string, unknown> | undefined = doc.services['registry-next'];
    assert.ok(next, Object.keys(doc.services).join(' '));
    const { build, ...rest } = registry;
    assert.ok(build, 'the registry service builds the image');
    assert.equal(next.read_only, true);
    assert.deepEqual(next.security_opt, ['no-new-privileges:true']);
    assert.deepEqual(next.cap_drop, ['ALL']);
    assert.equal(next.ports, undefined);
    assert.equal(next.user, '1000:1000');
    assert.deepEqual(next, { ...rest, profiles: ['upgrade'] });
  });

  test('nginx.conf names the registry service unless the upgrade points it at the second slot', () => {
    const conf = fileOf(files, '/nginx.conf');
    assert.match(conf, /server registry:5000 max_fails/);
    assert.match(conf, /set \$registry_by_name http:\/\/registry:5000;/);
    const switched = fileOf(renderDeploymentFiles(settings, { ...opts, nginxUpstreamHost: 'registry-next' }).files, '/nginx.conf');
    assert.match(switched, /server registry-next:5000 max_fails/);
    assert.match(switched, /set \$registry_by_name http:\/\/registry-next:5000;/);
    assert.equal(switched.replaceAll('registry-next:5000', 'registry:5000'), conf, 'only the upstream differs');
  });
});
