// What destroy removes, keeps and runs on a host, asserted without a host: the facts production
// observes go in, the plan and the steps' argv come out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decideDestroy,
  destroyCandidates,
  destroyComposeDownArgv,
  destroySteps,
  destroyTarget,
  imageRemovalDetail,
  leftoverRemovalCommands,
  ufwRemoveArgv,
  type DestroyFacts,
  type DestroyPlan,
  type DestroyStep,
  type DestroyTarget,
} from '../../src/provision/index.js';

const DIR = '/opt/registry-setup';
const PROJECT = 'registry-setup';
const NOW = new Date('2026-12-06T12:00:00.000Z');
const record = { dataDir: '/srv/registry', domain: 'registry.example.com', version: '0.1.0' };
const TIMER = '/etc/systemd/system/registry-setup-renew.timer';
const SERVICE = '/etc/systemd/system/registry-setup-renew.service';

/** Everything a full deployment leaves, plus what the caller adds or takes away. */
function facts(t: DestroyTarget, over: Partial<DestroyFacts> & { without?: string[] } = {}): DestroyFacts {
  const all = new Set(destroyCandidates(t).filter((p) => !p.startsWith('/etc/systemd/')));
  for (const p of over.without ?? []) all.delete(p);
  return {
    present: over.present ?? all,
    containers: over.containers ?? [
      { id: 'a'.repeat(64), service: 'registry', state: 'running', labels: { 'com.docker.compose.project.working_dir': DIR } },
      { id: 'b'.repeat(64), service: 'nginx', state: 'running', labels: {} },
      { id: 'c'.repeat(64), service: 'registry', state: 'running', labels: { 'com.docker.compose.project.working_dir': '/elsewhere' } },
    ],
    knownUnits: over.knownUnits ?? [],
    dataBytes: 'dataBytes' in over ? over.dataBytes : 12345,
    imagePresent: over.imagePresent ?? true,
    firewallRules: over.firewallRules ?? [],
  };
}

function plan(purge: boolean, t = destroyTarget(DIR, PROJECT, record), f = facts(t)): DestroyPlan {
  const p = decideDestroy(t, f, purge);
  assert.ok(p, 'a deployment');
  return p;
}

const byId = (steps: DestroyStep[]) => Object.fromEntries(steps.map((s) => [s.id, s]));
const argvs = (s: DestroyStep | undefined) => s?.commands.map((c) => (c.allowFailure ? ['(may fail)', ...c.argv] : c.argv));

describe('destroy plan', () => {
  test('default: generated files go; data, certificates, users, secrets, state and the image are kept, and a note says where', () => {
    const p = plan(false);
    assert.deepEqual(p.remove.map((r) => r.path), ['compose.yaml', 'nginx', 'build', 'registry-setup.json', 'webroot', 'renew.sh', 'mirror-credentials', 'retention.sh', 'retention.yaml'].map((r) => `${DIR}/${r}`));
    assert.deepEqual(p.keep.map((k) => k.path), [
      '/srv/registry',
      ...['tls', 'acme', 'auth', 'upload-secret', 's3-credentials', 's3-ca.pem', 'state'].map((r) => `${DIR}/${r}`),
      'image registry-setup/registry:0.1.0',
    ]);
    assert.equal(p.keep[0]!.bytes, 12345);
    assert.deepEqual(p.containers.map((c) => c.id[0]), ['a', 'b'], 'a container of another install directory is not ours');
    const steps = destroySteps({ plan: p, project: PROJECT, purge: false, now: NOW });
    assert.deepEqual(steps.map((s) => s.id), ['containers', 'timer', 'files'], 'no image step, no firewall step');
    const s = byId(steps);
    assert.deepEqual(argvs(s.files), [['rm', '-rf', '--', ...p.remove.map((r) => r.path)]]);
    assert.equal(s.files!.files!.length, 1);
    const note = s.files!.files![0]!;
    assert.equal(note.path, `${DIR}/state/destroyed.json`);
    assert.equal(note.mode, 0o644);
    assert.deepEqual(JSON.parse(String(note.content)), { destroyedAt: NOW.toISOString(), registrySetupVersion: '0.1.0', domain: 'registry.example.com', dataDir: '/srv/registry' });
    assert.deepEqual(s.containers!.removes.map((r) => r.path), [`container registry (${'a'.repeat(12)})`, `container nginx (${'b'.repeat(12)})`]);
    assert.deepEqual(argvs(s.timer), [], 'no timer installed');
    assert.equal(s.timer!.detail, 'none installed');
  });

  test('--purge: the data (only its docker/ folder), certificates, users and the image go, then the install directory if empty', () => {
    const p = plan(true);
    assert.deepEqual(p.keep, []);
    assert.ok(p.remove.some((r) => r.path === '/srv/registry' && r.bytes === 12345));
    const s = byId(destroySteps({ plan: p, project: PROJECT, purge: true, now: NOW }));
    assert.deepEqual(argvs(s.image), [['(may fail)', 'docker', 'image', 'rm', 'registry-setup/registry:0.1.0']]);
    const others = p.remove.filter((r) => r.path !== '/srv/registry').map((r) => r.path);
    assert.deepEqual(argvs(s.files), [
      ['rm', '-rf', '--', ...others],
      ['rm', '-rf', '--', '/srv/registry/docker'],
      ['(may fail)', 'rmdir', '--ignore-fail-on-non-empty', '--', '/srv/registry'],
      ['(may fail)', 'rmdir', '--ignore-fail-on-non-empty', '--', DIR],
    ]);
    assert.deepEqual(s.files!.files, [], 'no note after a purge');
    assert.equal(s.files!.name, 'Delete the files, image data and certificates');
  });

  test('--purge of a data directory set to a system folder removes only the registry\'s content there', () => {
    const t = destroyTarget(DIR, PROJECT, { ...record, dataDir: '/srv/' });
    assert.equal(t.dataDir, '/srv');
    const s = byId(destroySteps({ plan: plan(true, t, facts(t)), project: PROJECT, purge: true, now: NOW }));
    assert.deepEqual(argvs(s.files)!.slice(1, 2), [['rm', '-rf', '--', '/srv/docker']]);
    assert.ok(!argvs(s.files)!.some((a) => a.includes('/srv') && a.includes('rmdir')), 'never rmdir /srv');
  });

  test('bucket storage: the bucket is kept even with --purge, and named in the note', () => {
    const bucket = 's3://images/prod?endpoint=https://s3.example.com';
    const t = destroyTarget(DIR, PROJECT, { ...record, storage: bucket });
    const f = facts(t, { without: ['/srv/registry'] });
    for (const purge of [false, true]) {
      const p = plan(purge, t, f);
      assert.equal(p.storage, bucket);
      assert.deepEqual(p.keep.at(-1), { path: bucket, what: 'image data in the bucket (destroy never deletes it)' });
      assert.ok(!p.remove.some((r) => r.path.startsWith('s3:')));
      const s = byId(destroySteps({ plan: p, project: PROJECT, purge, now: NOW }));
      assert.ok(!argvs(s.files)!.flat().some((a) => a.startsWith('s3:')), 'no command names the bucket');
      if (!purge) assert.equal(JSON.parse(String(s.files!.files![0]!.content)).storage, bucket);
    }
  });

  test('the Let\'s Encrypt renewal timer: disabled, its unit files removed, systemd reloaded (also when systemd knows it from elsewhere)', () => {
    const t = destroyTarget(DIR, PROJECT, record);
    const f = facts(t);
    const p = plan(false, t, { ...f, present: new Set([...f.present, TIMER]), knownUnits: ['registry-setup-renew.service'] });
    assert.deepEqual(p.units, ['registry-setup-renew.timer', 'registry-setup-renew.service']);
    const s = byId(destroySteps({ plan: p, project: PROJECT, purge: false, now: NOW }));
    assert.deepEqual(argvs(s.timer), [
      ['(may fail)', 'systemctl', 'disable', '--now', 'registry-setup-renew.timer', 'registry-setup-renew.service'],
      ['rm', '-f', '--', TIMER, SERVICE],
      ['(may fail)', 'systemctl', 'daemon-reload'],
    ]);
    assert.deepEqual(s.timer!.removes.map((r) => r.path), ['systemd unit registry-setup-renew.timer', 'systemd unit registry-setup-renew.service']);
  });

  test('ufw rules of the deployment: one step removes them all, listed rule by rule', () => {
    const rules = ['80/tcp ALLOW IN Anywhere # registry-setup registry-setup', '443/tcp ALLOW IN Anywhere # registry-setup registry-setup'];
    const t = destroyTarget(DIR, PROJECT, record);
    const p = plan(false, t, facts(t, { firewallRules: rules }));
    const s = byId(destroySteps({ plan: p, project: PROJECT, purge: false, now: NOW }));
    assert.deepEqual(argvs(s.firewall), [ufwRemoveArgv(PROJECT)]);
    assert.deepEqual(s.firewall!.removes.map((r) => r.path), rules.map((r) => `ufw rule ${r}`));
    assert.equal(s.firewall!.detail, '2 removed');
  });

  test('several hosts: each host gets its own plan from its own facts (its directory, project, data and units)', () => {
    const a = destroyTarget('/opt/a', 'reg-a', { ...record, dataDir: '/data/a' });
    const b = destroyTarget('/opt/b', 'reg-b', { ...record, dataDir: '/data/b' });
    const pa = plan(true, a, facts(a, { containers: [] }));
    const pb = plan(true, b, facts(b, { containers: [], firewallRules: ['80/tcp ALLOW IN Anywhere # registry-setup reg-b'], present: new Set([...destroyCandidates(b)]) }));
    const sa = destroySteps({ plan: pa, project: 'reg-a', purge: true, now: NOW });
    const sb = destroySteps({ plan: pb, project: 'reg-b', purge: true, now: NOW });
    assert.ok(sa.flatMap((s) => s.commands.flatMap((c) => c.argv)).every((w) => !w.includes('/opt/b') && !w.includes('/data/b')));
    assert.deepEqual(sa.map((s) => s.id), ['containers', 'image', 'timer', 'files']);
    assert.deepEqual(sb.map((s) => s.id), ['containers', 'image', 'timer', 'firewall', 'files']);
    assert.deepEqual(byId(sb).timer!.removes.map((r) => r.path), ['systemd unit registry-setup-renew-reg-b.timer', 'systemd unit registry-setup-renew-reg-b.service', 'systemd unit registry-setup-retention-reg-b.timer', 'systemd unit registry-setup-retention-reg-b.service']);
    assert.deepEqual(argvs(byId(sb).firewall), [ufwRemoveArgv('reg-b')]);
    assert.equal(byId(sa).containers!.status, 'unchanged');
    assert.equal(byId(sa).containers!.detail, 'none left');
  });

  test('again after a destroy: the note says where the data is; with nothing of ours left it is no deployment', () => {
    const note = JSON.stringify({ destroyedAt: NOW.toISOString(), registrySetupVersion: '0.1.0', domain: 'r.example.com', dataDir: '/srv/kept', storage: 's3://b' });
    const t = destroyTarget(DIR, PROJECT, undefined, note);
    assert.deepEqual({ dataDir: t.dataDir, domain: t.domain, storage: t.storage, image: t.image, already: t.alreadyDestroyed }, { dataDir: '/srv/kept', domain: 'r.example.com', storage: 's3://b', image: 'registry-setup/registry:0.1.0', already: true });
    assert.equal(destroyTarget(DIR, PROJECT, undefined, '{damaged').dataDir, `${DIR}/data`);
    const leftOver = plan(false, t, facts(t, { present: new Set([`${DIR}/tls`, '/srv/kept']), containers: [], imagePresent: false }));
    assert.deepEqual(leftOver.remove, []);
    assert.deepEqual(leftOver.keep.map((k) => k.path), ['/srv/kept', `${DIR}/tls`, 's3://b']);
    assert.equal(byId(destroySteps({ plan: leftOver, project: PROJECT, purge: false, now: NOW })).files!.detail, 'nothing left to remove');
    assert.equal(decideDestroy(t, facts(t, { present: new Set() }), false), null, 'containers alone are no deployment');
  });

  test('the containers step: compose down, then the leftovers and the network; the image step reads docker\'s answer', () => {
    assert.deepEqual(destroyComposeDownArgv({ kind: 'v1', dir: DIR, project: PROJECT }), ['docker-compose', '-p', PROJECT, '-f', `${DIR}/compose.yaml`, 'down', '--remove-orphans']);
    assert.deepEqual(leftoverRemovalCommands(['x1', 'x2'], PROJECT), [{ argv: ['docker', 'rm', '-f', 'x1', 'x2'] }, { argv: ['docker', 'network', 'rm', `${PROJECT}_default`], allowFailure: true }]);
    assert.deepEqual(leftoverRemovalCommands([], PROJECT), [{ argv: ['docker', 'network', 'rm', `${PROJECT}_default`], allowFailure: true }]);
    const image = 'registry-setup/registry:0.1.0';
    assert.deepEqual(imageRemovalDetail({ code: 0, stderr: '' }, image), { removed: true, detail: image });
    assert.deepEqual(imageRemovalDetail({ code: 1, stderr: 'Error: No such image: x' }, image), { removed: false, detail: 'not present' });
    assert.deepEqual(imageRemovalDetail({ code: 1, stderr: 'conflict: unable to remove repository reference' }, image), { removed: false, detail: 'kept: another container uses it' });
  });
});
