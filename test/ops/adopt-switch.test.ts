// adopt's switch and rollback commands, run for real on temporary files (setfacl/getfacl from the
// acl package, sed): the grant gives uid 1000 access without changing owner or mode, and the
// rollback puts back exactly the ACLs that were there; certbot's cron lines come back as they were.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { aclDumpArgv, aclGrantArgv, aclRestoreArgv, buildAdoptRecord, CRON_MARK, cronDisableArgv, cronEnableArgv, parseAdoptRecord, rollbackArgvs, switchArgvs } from '../../src/ops/adopt-switch.js';
import type { AdoptDiscovery } from '../../src/ops/adopt-discover.js';
import { adoptedRenewalState, adoptedSettings, proveAdoption, stopProjectArgv } from '../../src/ops/adopt-run.js';
import { parseCertificate } from '../../src/acme/certificate.js';
import { decideRenewal } from '../../src/acme/obtain.js';
import type { RenewalState } from '../../src/acme/state-store.js';
import { directoryUrlOf } from '../../src/deploy/letsencrypt.js';
import { renderDeploymentFiles } from '../../src/provision/index.js';
import { readHostRecord } from '../../src/deploy/host-record.js';
import type { RemoteHost } from '../../src/remote/index.js';
import type { DeploySettings } from '../../src/settings/settings.js';

const run = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
const aclSkip = (): string | undefined => {
  if (spawnSync('setfacl', ['--version']).status === 0 && process.getuid?.() === 0) return undefined;
  const reason = 'needs setfacl (apt install acl) and root';
  if (process.env.CI) throw new Error(reason);
  return reason;
};
/** getfacl of every file, sorted, owners included: what rollback must bring back byte for byte. */
const acls = (dir: string) => run(['sh', '-c', 'cd "$1" && getfacl -R -p -n . | sort', 'sh', dir]);

const discovery = {
  registry: { id: 'r1', name: 'registry_registry_1', data: { kind: 'bind', hostPath: '/srv/registry/data' } },
  companions: [{ id: 'n1', name: 'registry_nginx_1' }],
  certbot: { timers: ['certbot.timer'], cron: ['/etc/cron.d/certbot'] },
} as unknown as AdoptDiscovery;

describe('adopt switch: record and commands', () => {
  it('the record names everything rollback undoes, and reads back', () => {
    const tags = [{ repository: 'team/app', tag: 'v1', digest: `sha256:${'a'.repeat(64)}` }];
    const r = buildAdoptRecord(discovery, '/opt/registry-setup', tags, 'server { }');
    assert.deepEqual(r.stopped.map((c) => c.id), ['r1', 'n1']);
    assert.equal(r.aclDump, '/opt/registry-setup/state/adopt/data-acl.getfacl');
    assert.deepEqual(parseAdoptRecord(JSON.stringify(r)), r);
    assert.equal(parseAdoptRecord('{"version":1}'), 'it lacks the fields this version writes');
    assert.equal(parseAdoptRecord('nope'), 'it is not JSON');
    const sw = switchArgvs(r, 1000);
    assert.deepEqual(sw.slice(2), [['systemctl', 'disable', '--now', 'certbot.timer'], cronDisableArgv('/etc/cron.d/certbot'), ['docker', 'stop', 'r1', 'n1']]);
    const back = rollbackArgvs(r);
    assert.deepEqual(back[0], aclRestoreArgv('/srv/registry/data', r.aclDump));
    assert.deepEqual(back.slice(1), [cronEnableArgv('/etc/cron.d/certbot'), ['systemctl', 'enable', '--now', 'certbot.timer'], ['docker', 'start', 'r1', 'n1']]);
    // variable values only as positional parameters, never inside the script
    for (const argv of [...sw, ...back]) if (argv[0] === 'sh') assert.ok(!argv[2]!.includes('/srv/registry'), argv.join(' '));
  });

  it('the ACL grant keeps owner and mode, gives uid 1000 read-write (new files too), and the restore removes exactly it', { skip: aclSkip() }, () => {
    const root = mkdtempSync(path.join(tmpdir(), 'rs-adopt-acl-'));
    try {
      chmodSync(root, 0o711); // in a container the bind mount starts at data/; here uid 1000 walks the parent
      const data = path.join(root, 'data');
      mkdirSync(path.join(data, 'docker/registry/v2/blobs'), { recursive: true });
      writeFileSync(path.join(data, 'docker/registry/v2/blobs/blob'), 'x');
      chownSync(path.join(data, 'docker/registry/v2/blobs/blob'), 0, 0);
      chmodSync(data, 0o700);
      // an ACL the user had before adopt: it must survive the round trip
      run(['setfacl', '-m', 'u:4242:r', path.join(data, 'docker/registry/v2/blobs/blob')]);
      const before = acls(data);
      const modeBefore = statSync(data).mode;
      const dump = path.join(root, 'dump');
      run(aclDumpArgv(data, dump));
      assert.equal(statSync(dump).mode & 0o777, 0o600);
      run(aclGrantArgv(data, 1000));
      assert.equal(statSync(data).uid, 0, 'owner unchanged');
      const granted = acls(data);
      assert.match(granted, /^user:1000:rwx$/m);
      assert.match(granted, /^group:1000:r-x$/m);
      assert.match(granted, /^default:user:1000:rwx$/m);
      // uid 1000 can write in place and what it writes stays usable for the old owner (root here: default entry)
      const asUid = spawnSync('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'sh', '-c', 'echo y > "$1/docker/registry/v2/blobs/new" && cat "$1/docker/registry/v2/blobs/blob"', 'sh', data], { encoding: 'utf8' });
      assert.equal(asUid.status, 0, asUid.stderr);
      assert.equal(asUid.stdout, 'x');
      run(aclRestoreArgv(data, dump));
      rmSync(path.join(data, 'docker/registry/v2/blobs/new'));
      // a rollback after a switch that stopped before the dump: nothing to restore, and no failure
      assert.equal(spawnSync(aclRestoreArgv(data, path.join(root, 'no-dump'))[0]!, aclRestoreArgv(data, path.join(root, 'no-dump')).slice(1)).status, 0);
      assert.equal(acls(data), before, 'the ACLs as they were');
      assert.equal(statSync(data).mode, modeBefore);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("certbot's cron lines are commented out with a mark and come back exactly", () => {
    const root = mkdtempSync(path.join(tmpdir(), 'rs-adopt-cron-'));
    try {
      const file = path.join(root, 'certbot');
      const text = "# comment mentioning certbot\nSHELL=/bin/sh\n0 */12 * * * root test -x /usr/bin/certbot && certbot -q renew\n";
      writeFileSync(file, text);
      run(cronDisableArgv(file));
      assert.equal(readFileSync(file, 'utf8'), `# comment mentioning certbot\nSHELL=/bin/sh\n${CRON_MARK}0 */12 * * * root test -x /usr/bin/certbot && certbot -q renew\n`);
      run(cronEnableArgv(file));
      assert.equal(readFileSync(file, 'utf8'), text);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('deploy leaves an adopted data directory alone (no install -d -o 1000 -m 0750 over the old owner and mode)', () => {
    const settings: DeploySettings = { target: 'root@203.0.113.10', domain: 'registry.example.com', user: 'admin', tls: 'custom', httpPort: 80, httpsPort: 443, dir: '/opt/registry-setup', dataDir: '/srv/registry/data', nodeImage: 'node:22-bookworm-slim', nginxImage: 'nginx:1.27-alpine' };
    const opts = { version: '0.1.0', registryPayload: [{ path: 'registry.mjs', content: 'export {};\n' }], htpasswd: 'admin:$2y$05$abcdefghijklmnopqrstuu5Ilz0S3ZQkP3v1mG8t8fV1l8K0kQj7m\n', uploadSecret: 'x'.repeat(43) };
    const dirs = (s: DeploySettings) => renderDeploymentFiles(s, opts).directories.map((d) => d.path);
    assert.ok(dirs(settings).includes('/srv/registry/data'), 'a deployment of its own creates and owns it');
    assert.ok(!dirs({ ...settings, adoptedData: true }).includes('/srv/registry/data'));
  });

  it("an adopted deployment's record (adoptedData) reads back, so certs status, status and later deploys work", async () => {
    const settings: DeploySettings = { target: 'root@203.0.113.10', domain: 'registry.example.com', user: 'admin', tls: 'letsencrypt', email: 'ops@example.com', httpPort: 80, httpsPort: 443, dir: '/opt/registry-setup', dataDir: '/srv/registry/data', nodeImage: 'node:22-bookworm-slim', nginxImage: 'nginx:1.27-alpine', adoptedData: true };
    const opts = { version: '0.1.0', registryPayload: [{ path: 'registry.mjs', content: 'export {};\n' }], htpasswd: 'admin:$2y$05$abcdefghijklmnopqrstuu5Ilz0S3ZQkP3v1mG8t8fV1l8K0kQj7m\n', uploadSecret: 'x'.repeat(43) };
    const recorded = String(renderDeploymentFiles(settings, opts).files.find((f) => f.path.endsWith('/registry-setup.json'))!.content);
    const hostWith = (content: string) => ({ readFile: async () => Buffer.from(content) }) as unknown as RemoteHost;
    const record = await readHostRecord(hostWith(recorded), settings.dir);
    assert.equal(record?.settings.adoptedData, true);
    assert.equal(record?.settings.tls, 'letsencrypt');
    await assert.rejects(readHostRecord(hostWith(recorded.replace(/("adoptedData":\s*)true/, '$1"yes"')), settings.dir), /is damaged \(adoptedData is not true or false\)/);
  });

  it('the new stack keeps name, ports, data and users; a certbot certificate is renewed by our timer (needs --email), another kept as custom', () => {
    const found = (cert: Record<string, unknown>, nginx: Record<string, unknown> = {}) =>
      ({ ...discovery, registry: { ...discovery.registry, htpasswd: { users: ['admin', 'ci'] } }, nginx: { kind: 'container', domain: 'registry.example.com', httpsPort: 8443, certificate: { hostCertificate: '/srv/certs/fullchain.pem', hostKey: '/srv/certs/privkey.pem', ...cert }, ...nginx } }) as unknown as AdoptDiscovery;
    assert.deepEqual(adoptedSettings(found({}), { httpPort: 8080 }), {
      domain: 'registry.example.com', httpsPort: 8443, httpPort: 8080, dataDir: '/srv/registry/data', user: 'admin', adoptedData: true, tls: 'custom', cert: '/srv/certs/fullchain.pem', key: '/srv/certs/privkey.pem',
    });
    assert.equal(adoptedSettings(found({}, { httpPort: 80 }), { httpPort: 8080 }).httpPort, 80, "the old nginx's HTTP port wins");
    const le = found({ letsencrypt: { name: 'registry.example.com', servedInPlace: true, root: '/etc/letsencrypt' } });
    assert.throws(() => adoptedSettings(le, {}), /certificate is certbot's \(registry\.example\.com\): give --email ADDR/);
    const s = adoptedSettings(le, { email: 'ops@example.com', user: 'ci' });
    assert.deepEqual([s.tls, s.email, s.user, s.cert], ['letsencrypt', 'ops@example.com', 'ci', undefined]);
    assert.throws(() => adoptedSettings(le, { email: 'ops@example.com', user: 'bob' }), /--user bob is not among the old registry's users \(admin, ci\)/);
    assert.throws(() => adoptedSettings({ ...discovery, nginx: undefined } as unknown as AdoptDiscovery, {}), /behind nginx with a certificate/);
    assert.deepEqual(stopProjectArgv('p x').slice(-1), ['p x']);
  });

  it("certbot's certificate taken over: the renewal record adopt writes makes deploy order nothing (no ACME contact at adopt)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rs-adopt-renewal-'));
    try {
      const f = (n: string) => path.join(dir, n);
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      execFileSync('openssl', ['req', '-x509', ...ec, '-days', '90', '-subj', '/CN=test CA', '-keyout', f('ca.key'), '-out', f('ca.pem')], { stdio: 'pipe' });
      execFileSync('openssl', ['req', ...ec, '-subj', '/CN=registry.example.com', '-keyout', f('key.pem'), '-out', f('leaf.csr')], { stdio: 'pipe' });
      writeFileSync(f('leaf.ext'), 'subjectAltName=DNS:registry.example.com\n');
      execFileSync('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '90', '-extfile', f('leaf.ext'), '-out', f('cert.pem')], { stdio: 'pipe' });
      const certPem = readFileSync(f('cert.pem'), 'utf8') + readFileSync(f('ca.pem'), 'utf8');
      const installed = { certPem, keyPem: readFileSync(f('key.pem'), 'utf8') };
      const settings = { acmeDirectory: undefined, staging: false };
      const directoryUrl = directoryUrlOf(settings);
      const decide = (state: RenewalState | undefined) => decideRenewal({ installed, state, domains: ['registry.example.com'], directoryUrl, now: new Date() });
      // the certificate alone (what adopt wrote before): deploy would order one at once
      assert.equal(decide(undefined).order, true);
      assert.match(decide(undefined).reason, /has no renewal record/);
      const state = adoptedRenewalState(certPem, settings);
      assert.equal(state.directoryUrl, 'https://acme-v02.api.letsencrypt.org/directory');
      assert.equal(state.serial, parseCertificate(certPem).serial);
      assert.deepEqual(state.names, ['registry.example.com']);
      assert.equal(decide(state).order, false, decide(state).reason);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the proof: a refused login, a tag served with another digest and a missing tag are each a problem; identical ones none', async () => {
    const manifests: Record<string, Buffer> = { '/v2/team/app/manifests/v1': Buffer.from('{"schemaVersion":2,"a":1}'), '/v2/team/app/manifests/v2': Buffer.from('{"schemaVersion":2,"b":2}') };
    const good = `Basic ${Buffer.from('admin:secret-password').toString('base64')}`;
    const server = createServer((req, res) => {
      if (req.headers.authorization !== good) return void res.writeHead(401).end();
      const body = req.url === '/v2/' ? Buffer.from('{}') : manifests[req.url ?? ''];
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
      const v1 = { repository: 'team/app', tag: 'v1', digest: digest(manifests['/v2/team/app/manifests/v1']!) };
      const settings = { domain: 'registry.example.com', httpsPort: 443, user: 'admin' };
      assert.deepEqual(await proveAdoption([v1], { settings, password: 'secret-password', baseUrl }), []);
      assert.deepEqual(await proveAdoption([v1], { settings, password: 'wrong', baseUrl }), ['a login as admin with the password given was answered 401, not 200']);
      const moved = { repository: 'team/app', tag: 'v2', digest: v1.digest };
      const gone = { repository: 'team/app', tag: 'v3', digest: v1.digest };
      assert.deepEqual((await proveAdoption([v1, moved, gone], { settings, password: 'secret-password', baseUrl })).sort(), [
        `team/app:v2 is ${digest(manifests['/v2/team/app/manifests/v2']!)}, was ${v1.digest}`,
        `team/app:v3 is HTTP 404, was ${v1.digest}`,
      ]);
    } finally {
      server.close();
    }
  });
});
