// The commands deploy and upgrade run on a host, asserted without a host: for each situation the
// files are rendered as production renders them, the ones that differ from what the host holds are
// the "changed files", and the plan functions production calls give the argv.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DeploySettings } from '../../src/settings/settings.js';
import {
  nginxReloadPlan,
  renderDeploymentFiles,
  startNeedsImageCheck,
  startPlan,
  upgradeRestartPlan,
  type ComposeTarget,
  type ContainerFact,
  type RenderDeploymentOptions,
} from '../../src/provision/index.js';
import { DEPLOY_SETTINGS, HTPASSWD } from './settings-fixture.js';

const settings: DeploySettings = DEPLOY_SETTINGS;
const opts: RenderDeploymentOptions = {
  version: '0.1.0',
  registryPayload: [{ path: 'registry.mjs', content: 'export {};\n' }],
  htpasswd: HTPASSWD,
  uploadSecret: 'x'.repeat(43),
};
const target: ComposeTarget = { kind: 'v2', dir: '/opt/registry-setup' };
const compose = (...args: string[]) => ['docker', 'compose', '-p', 'registry-setup', '-f', '/opt/registry-setup/compose.yaml', ...args];
const BUILD = compose('build', 'registry');
const UP = compose('up', '-d', '--remove-orphans');
const RECREATE_REGISTRY = compose('up', '-d', '--no-deps', '--force-recreate', 'registry');
const RELOAD = ['sh', '-c', 'i=1; until "$@"; do if [ "$i" -ge 10 ]; then exit 1; fi; i=$((i + 1)); sleep 1; done', 'sh', ...compose('exec', '-T', 'nginx', 'nginx', '-c', '/etc/registry-setup/nginx/nginx.conf', '-s', 'reload')];

/** The stack as a previous deploy of `version` left it. */
function runningStack(version = '0.1.0'): ContainerFact[] {
  return [
    { service: 'registry', state: 'running', image: `registry-setup/registry:${version}` },
    { service: 'nginx', state: 'running', image: 'nginx:1.27-alpine' },
  ];
}

/** Host paths whose rendered content differs between what the host has (`before`) and this run. */
function changedFiles(before: RenderDeploymentOptions & { settings: DeploySettings } | null, now: RenderDeploymentOptions & { settings: DeploySettings }): string[] {
  const was = new Map(before ? renderDeploymentFiles(before.settings, before).files.map((f) => [f.path, String(f.content)]) : []);
  return renderDeploymentFiles(now.settings, now).files.filter((f) => was.get(f.path) !== String(f.content)).map((f) => f.path);
}

/** What deploy runs in its start and reload steps (src/deploy/deploy.ts calls the same functions). */
function deployCommands(o: { changed: string[]; containers: ContainerFact[]; imagePresent: boolean; tlsChanged?: boolean }) {
  const observed = { target, version: opts.version, composeInstalled: true, changedFiles: o.changed };
  const start = startPlan({ ...observed, containers: o.containers, imagePresent: startNeedsImageCheck(observed) ? o.imagePresent : undefined });
  const reload = nginxReloadPlan({
    target,
    nginxRunning: o.containers.some((c) => c.service === 'nginx' && c.state === 'running'),
    changedFiles: o.changed,
    tlsChanged: o.tlsChanged ?? false,
    registryRecreated: start.recreate,
  });
  return { start: start.commands, reload, detail: start.detail };
}

describe('deploy plan', () => {
  const now = { ...opts, settings };

  test('first deploy: build the image, start everything; nothing to reload', () => {
    const plan = deployCommands({ changed: changedFiles(null, now), containers: [], imagePresent: false, tlsChanged: true });
    assert.deepEqual(plan.start, [BUILD, UP]);
    assert.deepEqual(plan.reload, [], 'nginx starts with the new files');
    assert.equal(plan.detail, 'built registry-setup/registry:0.1.0');
  });

  test('unchanged re-run: no command at all', () => {
    const plan = deployCommands({ changed: changedFiles(now, now), containers: runningStack(), imagePresent: true });
    assert.deepEqual(plan, { start: [], reload: [], detail: undefined });
  });

  test('unchanged files but the image is gone: build and up', () => {
    assert.deepEqual(deployCommands({ changed: [], containers: runningStack(), imagePresent: false }).start, [BUILD, UP]);
  });

  test('a stopped stack is started again without a build', () => {
    const stopped = runningStack().map((c) => (c.service === 'nginx' ? { ...c, state: 'exited' } : c));
    assert.deepEqual(deployCommands({ changed: [], containers: stopped, imagePresent: true }), { start: [UP], reload: [], detail: undefined });
  });

  test('changed domain: only nginx.conf (and the record) change, so nginx is reloaded, nothing restarted', () => {
    const changed = changedFiles(now, { ...now, settings: { ...settings, domain: 'other.example.com' } });
    assert.deepEqual(changed, ['/opt/registry-setup/nginx/nginx.conf', '/opt/registry-setup/registry-setup.json']);
    assert.deepEqual(deployCommands({ changed, containers: runningStack(), imagePresent: true }), { start: [], reload: [RELOAD], detail: undefined });
  });

  test('changed port: compose.yaml changes too, so up and reload, no build', () => {
    const changed = changedFiles(now, { ...now, settings: { ...settings, httpsPort: 8443 } });
    assert.ok(changed.includes('/opt/registry-setup/compose.yaml'), changed.join(' '));
    assert.deepEqual(deployCommands({ changed, containers: runningStack(), imagePresent: true }), { start: [UP], reload: [RELOAD], detail: undefined });
  });

  test('--tls switch: only the certificate and the record change, so nginx is reloaded and nothing restarted', () => {
    const changed = changedFiles(now, { ...now, settings: { ...settings, tls: 'custom' } });
    assert.deepEqual(changed, ['/opt/registry-setup/registry-setup.json']);
    assert.deepEqual(deployCommands({ changed, containers: runningStack(), imagePresent: true, tlsChanged: true }), { start: [], reload: [RELOAD], detail: undefined });
    assert.deepEqual(deployCommands({ changed, containers: runningStack(), imagePresent: true, tlsChanged: false }).reload, [], 'no reload without a new certificate');
  });

  test('several hosts: a host added to a deployment gets everything, the others recreate the registry for the shared secret', () => {
    const added = deployCommands({ changed: changedFiles(null, now), containers: [], imagePresent: false });
    assert.deepEqual(added.start, [BUILD, UP]);
    // the first host had no upload secret yet: the others get the one every host now shares
    const changed = changedFiles({ ...now, uploadSecret: 'y'.repeat(43) }, now);
    assert.deepEqual(changed, ['/opt/registry-setup/upload-secret']);
    const existing = deployCommands({ changed, containers: runningStack(), imagePresent: true });
    assert.deepEqual(existing, { start: [RECREATE_REGISTRY], reload: [RELOAD], detail: 'registry recreated (new secret or credentials)' });
  });

  test('a new version of the CLI: build inputs changed, so build and up (no image check)', () => {
    const changed = changedFiles(now, { ...now, version: '0.2.0' });
    assert.equal(startNeedsImageCheck({ target, version: '0.2.0', composeInstalled: true, changedFiles: changed }), false);
    const start = startPlan({ target, version: '0.2.0', composeInstalled: true, changedFiles: changed, containers: runningStack() });
    assert.deepEqual(start.commands, [BUILD, UP]);
  });

  test('dry run on a host without Docker: a build is planned', () => {
    const start = startPlan({ target, version: '0.1.0', composeInstalled: false, changedFiles: [], containers: [] });
    assert.equal(start.dryRunDetail, 'build and start');
    assert.deepEqual(start.commands, [BUILD, UP]);
  });
});

describe('upgrade plan', () => {
  const deployed = { ...opts, settings };
  // upgrade renders without htpasswd: the users stay as they are
  const { htpasswd: _users, ...upgradeOpts } = opts;

  test('upgrade renders no htpasswd and keeps authentication on', () => {
    const files = renderDeploymentFiles(settings, { ...upgradeOpts, version: '0.2.0' }).files;
    assert.ok(!files.some((f) => f.path.endsWith('/htpasswd')));
    const composeYaml = String(files.find((f) => f.path.endsWith('/compose.yaml'))!.content);
    assert.equal(composeYaml, String(renderDeploymentFiles(settings, { ...opts, version: '0.2.0' }).files.find((f) => f.path.endsWith('/compose.yaml'))!.content));
  });

  test('new version: recreate the registry alone, then reload nginx', () => {
    const changed = changedFiles(deployed, { ...upgradeOpts, htpasswd: opts.htpasswd, settings, version: '0.2.0' });
    const plan = upgradeRestartPlan({ target, version: '0.2.0', changedFiles: changed, containers: runningStack(), nginxServiceChanged: false });
    assert.deepEqual(plan, { needed: true, commands: [RECREATE_REGISTRY, RELOAD], reloadOnly: [] });
  });

  test("nginx's own service changed: it is recreated too", () => {
    const plan = upgradeRestartPlan({ target, version: '0.2.0', changedFiles: ['/opt/registry-setup/compose.yaml'], containers: runningStack(), nginxServiceChanged: true });
    assert.deepEqual(plan.commands, [RECREATE_REGISTRY, RELOAD, compose('up', '-d', '--no-deps', 'nginx')]);
  });

  test('same version, nothing changed: nothing runs', () => {
    assert.deepEqual(upgradeRestartPlan({ target, version: '0.1.0', changedFiles: [], containers: runningStack(), nginxServiceChanged: false }), { needed: false, commands: [], reloadOnly: [] });
  });

  test('same version, only nginx.conf changed: a reload, no restart', () => {
    const plan = upgradeRestartPlan({ target, version: '0.1.0', changedFiles: ['/opt/registry-setup/nginx/nginx.conf'], containers: runningStack(), nginxServiceChanged: false });
    assert.deepEqual(plan, { needed: false, commands: [], reloadOnly: [RELOAD] });
  });

  test('a registry that does not run is started on the new image', () => {
    const stopped = runningStack().map((c) => (c.service === 'registry' ? { ...c, state: 'exited' } : c));
    assert.equal(upgradeRestartPlan({ target, version: '0.1.0', changedFiles: [], containers: stopped, nginxServiceChanged: false }).needed, true);
  });
});
