// Several hosts, each ordering its own certificate: every nginx asks the other hosts for a challenge
// token it does not hold. Three real nginx instances (the generated nginx.conf, paths redirected)
// on loopback stand for three hosts: a token in one webroot is served through any of them, a
// missing one is 404 after one hop (no loops), and a peer that is down is skipped.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readHostRecord } from '../../src/deploy/host-record.js';
import { acmePeersOf, peerOf } from '../../src/provision/acme-peers.js';
import { renderDeploymentFiles } from '../../src/provision/deployment.js';
import type { RemoteHost } from '../../src/remote/index.js';
import { completeSettings } from '../../src/settings/resolve.js';
import { ACME_FORWARDED_HEADER, buildNginxConf } from '../../src/templates/nginx.js';
import { run } from '../helpers/exec.js';
import { freePort, waitForHttp } from '../helpers/net.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { TempDirs } from '../helpers/tmp.js';

const tmp = new TempDirs();
const running: ManagedProcess[] = [];
after(async () => {
  for (const p of running) await p.stop(3_000);
  await tmp.cleanup();
});

const hasNginx = await run('/usr/sbin/nginx', ['-v'], { allowFailure: true, timeoutMs: 30_000 }).then(
  (r) => r.code === 0,
  () => false,
);
const skipNginx = hasNginx ? false : process.env.CI ? false : '/usr/sbin/nginx is not installed here';

const DOMAIN = 'registry.example.com';
const CHALLENGE = '/.well-known/acme-challenge/';

describe('ACME peers', () => {
  test('each host gets the others as address:port (peerAddress, else the SSH host name)', () => {
    assert.deepEqual(
      acmePeersOf([
        { sshHost: 'reg1.example.com', httpPort: 80 },
        { sshHost: '127.0.0.1', peerAddress: '172.17.0.1', httpPort: 8080 },
        { sshHost: '2001:db8::3', httpPort: 80 },
      ]),
      [
        ['172.17.0.1:8080', '[2001:db8::3]:80'],
        ['reg1.example.com:80', '[2001:db8::3]:80'],
        ['reg1.example.com:80', '172.17.0.1:8080'],
      ],
    );
    assert.deepEqual(acmePeersOf([{ sshHost: 'reg1.example.com', httpPort: 80 }]), [[]]);
    assert.equal(peerOf({ sshHost: 'h', peerAddress: '10.0.0.5:8080', httpPort: 80 }), '10.0.0.5:8080', 'a port of its own (NAT, forwarder)');
    assert.equal(peerOf({ sshHost: 'h', peerAddress: '[2001:db8::5]:8080', httpPort: 80 }), '[2001:db8::5]:8080');
    assert.throws(() => peerOf({ sshHost: 'bad host', httpPort: 80 }), /set peerAddress for it in registry-setup\.yaml/);
  });

  test('without peers the challenge location is as before; with peers, a miss goes to them, marked', () => {
    const alone = buildNginxConf({ mode: 'https', domain: DOMAIN, httpsPort: 443 });
    assert.match(alone, /try_files \$uri =404;/);
    assert.doesNotMatch(alone, /acme_peers/);
    const conf = buildNginxConf({ mode: 'http-only', domain: DOMAIN, httpsPort: 443, acmePeers: ['10.0.0.2:80', '[2001:db8::3]:8080'] });
    assert.match(conf, /try_files \$uri @acme_peers;/);
    assert.match(conf, /upstream acme_peers \{\n\s+server 10\.0\.0\.2:80 max_fails=0;\n\s+server \[2001:db8::3\]:8080 max_fails=0;\n\s+\}/);
    assert.match(conf, new RegExp(`proxy_set_header ${ACME_FORWARDED_HEADER} 1;`));
    assert.match(conf, /proxy_next_upstream_tries 2;/);
    assert.throws(() => buildNginxConf({ mode: 'https', domain: DOMAIN, httpsPort: 443, acmePeers: ['10.0.0.2'] }), /not address:port/);
    assert.throws(() => buildNginxConf({ mode: 'https', domain: DOMAIN, httpsPort: 443, acmePeers: ['a;b:80'] }), /not address:port/);
  });

  test('deploy records the peers in registry-setup.json, where upgrade reads them back to render the same nginx.conf', async () => {
    const settings = completeSettings({ target: 'root@reg1.example.com', domain: DOMAIN, user: 'admin', email: 'ops@example.com', storage: 's3://registry-images/p?endpoint=https://s3.example.com' });
    const payload = [{ path: 'registry.mjs', content: Buffer.from('export {};\n') }];
    const files = renderDeploymentFiles(settings, { version: '0.1.0', registryPayload: payload, htpasswd: null, acmePeers: ['10.0.0.2:80'] }).files;
    const text = (suffix: string) => String(files.find((f) => f.path.endsWith(suffix))!.content);
    assert.match(text('nginx/nginx.conf'), /server 10\.0\.0\.2:80 max_fails=0;/);
    const recorded = text('registry-setup.json');
    assert.deepEqual(JSON.parse(recorded).acmePeers, ['10.0.0.2:80']);
    assert.equal(JSON.parse(recorded).settings.acmePeers, undefined, 'not a setting: registry-setup.yaml never carries it');
    const hostWith = (content: string) => ({ readFile: async () => Buffer.from(content) }) as unknown as RemoteHost;
    const record = await readHostRecord(hostWith(recorded), settings.dir);
    assert.deepEqual(record?.acmePeers, ['10.0.0.2:80']);
    // one host: nothing recorded, nothing forwarded
    const alone = renderDeploymentFiles(settings, { version: '0.1.0', registryPayload: payload, htpasswd: null }).files;
    assert.equal(JSON.parse(String(alone.find((f) => f.path.endsWith('registry-setup.json'))!.content)).acmePeers, undefined);
    await assert.rejects(readHostRecord(hostWith(recorded.replace('10.0.0.2:80', '10.0.0.2; evil')), settings.dir), /is damaged \(acmePeers is not a list of address:port\)/);
  });

  test('three nginx: a token is served through any host, a miss is 404 after one hop, a peer down is skipped', { skip: skipNginx, timeout: 60_000 }, async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const hosts = await Promise.all(
      ports.map(async (port, i) => {
        const dir = await tmp.make(`rs-acme-peer-${i}-`);
        await chmod(dir, 0o755); // nginx's workers (nobody) read the webroot
        for (const d of ['webroot/.well-known/acme-challenge', 'temp']) await mkdir(join(dir, d), { recursive: true, mode: 0o755 });
        const peers = ports.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`);
        const conf = buildNginxConf({
          mode: 'http-only',
          domain: DOMAIN,
          httpsPort: 443,
          paths: { webroot: join(dir, 'webroot'), tempDir: join(dir, 'temp'), tlsDir: join(dir, 'tls') },
          listen: { http: port },
          acmePeers: peers,
        }).replace('access_log /dev/stdout;', `access_log ${join(dir, 'access.log')};`);
        await writeFile(join(dir, 'nginx.conf'), conf);
        return { dir, port };
      }),
    );
    const start = (i: number): ManagedProcess => {
      const p = startProcess('/usr/sbin/nginx', ['-c', join(hosts[i]!.dir, 'nginx.conf'), '-g', 'daemon off;'], { name: `nginx-${i}` });
      running.push(p);
      return p;
    };
    const nginx = hosts.map((_, i) => start(i));
    for (const [i, h] of hosts.entries()) {
      await waitForHttp(`http://127.0.0.1:${h.port}/`, [503], 15_000, () => (nginx[i]!.hasExited() ? `nginx ${i} exited: ${nginx[i]!.logTail(20)}` : undefined));
    }
    const token = 'tok_A-1';
    await writeFile(join(hosts[0]!.dir, 'webroot', CHALLENGE, token), 'tok_A-1.thumbprint', { mode: 0o644 });
    const get = async (i: number, path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`http://127.0.0.1:${hosts[i]!.port}${path}`, { headers: { host: DOMAIN, ...headers }, signal: AbortSignal.timeout(15_000) });
      return { status: res.status, body: await res.text() };
    };
    const requests = async (i: number, path: string): Promise<number> => {
      const log = await readFile(join(hosts[i]!.dir, 'access.log'), 'utf8').catch(() => '');
      return log.split('\n').filter((l) => l.includes(`GET ${path} `)).length;
    };

    // the token's own host, and the two others forwarding to it
    for (const i of [0, 1, 2]) assert.deepEqual(await get(i, CHALLENGE + token), { status: 200, body: 'tok_A-1.thumbprint' }, `through host ${i}`);

    // a token nobody holds: 404, and each host sees the request exactly once (asked by host 1)
    const missing = `${CHALLENGE}nobody-has-this`;
    assert.equal((await get(1, missing)).status, 404);
    assert.deepEqual([await requests(0, missing), await requests(1, missing), await requests(2, missing)], [1, 1, 1]);

    // a request already forwarded by a peer is never forwarded again, even for a token a peer holds
    assert.equal((await get(1, CHALLENGE + token, { [ACME_FORWARDED_HEADER]: '1' })).status, 404);

    // a peer that is down is skipped: host 2 still finds host 0's token after host 1 stops
    await nginx[1]!.stop(3_000);
    const t2 = 'tok_A-2';
    await writeFile(join(hosts[0]!.dir, 'webroot', CHALLENGE, t2), 'tok_A-2.thumbprint', { mode: 0o644 });
    for (let i = 0; i < 3; i++) assert.equal((await get(2, CHALLENGE + t2)).status, 200, `attempt ${i}: whichever peer nginx tries first`);

    // everything else still answers as before (503 without a certificate)
    assert.equal((await get(2, '/v2/')).status, 503);
  });
});
