// The host-side `renew` command end to end against pebble: as a process (trusting pebble through
// NODE_EXTRA_CA_CERTS, resolving through pebble-challtestsrv) and in-process (--ca-file, clock).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { accountDirName, parseCertificate, renewCommand, type RenewIo } from '../../src/acme/index.js';
import { run, type RunResult } from '../helpers/exec.js';
import { freePort } from '../helpers/net.js';
import { startPebble, startWebrootServer, type RunningPebble, type WebrootServer } from '../helpers/pebble.js';
import { repoRoot } from '../helpers/registries.js';
import { TempDirs } from '../helpers/tmp.js';
import { randomDomain } from './support.js';

const ENTRY = join(repoRoot, 'test', 'acme', 'renew-main.ts');

describe('registry renew', () => {
  const tmp = new TempDirs();
  let pebble: RunningPebble;
  let web: WebrootServer;
  let root: string;
  let caFile: string;
  const domain = randomDomain();

  const dirs = () => ({ state: join(root, 'acme'), tls: join(root, 'tls'), webroot: join(root, 'webroot') });
  const baseArgs = (): string[] => [
    'renew', '--state-dir', dirs().state, '--tls-dir', dirs().tls, '--webroot', dirs().webroot,
    '--domain', domain, '--email', 'ops@example.com', '--directory', pebble.directoryUrl,
    '--http-port', String(pebble.httpPort), '--dns-server', pebble.dnsAddress, '--poll-interval-ms', '100',
  ];

  function renew(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return run(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
      cwd: repoRoot,
      allowFailure: true,
      timeoutMs: 60_000,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, ...env },
    });
  }
  const explain = (r: RunResult): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\n${pebble.logTail(20)}`;

  before(async () => {
    pebble = await startPebble({ certificateValidityPeriod: 3600 });
    root = await tmp.make('rs-renew-');
    caFile = join(root, 'pebble-listener-ca.pem');
    await writeFile(caFile, pebble.caPem);
    web = await startWebrootServer(dirs().webroot, pebble.httpPort);
  });
  after(async () => {
    await web?.close();
    await pebble?.stop();
    await tmp.cleanup();
  });

  it('issues when nothing is installed: prints "renewed", exit 0, files and state written', async () => {
    const r = await renew(baseArgs());
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.stdout, 'renewed\n', explain(r));
    const lines = r.stderr.trimEnd().split('\n');
    assert.ok(lines.every((l) => l.startsWith('renew: ')), explain(r));
    assert.ok(lines.some((l) => /^renew: issued certificate [0-9a-f]+ for /.test(l)), explain(r));

    const cert = await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8');
    assert.deepEqual(parseCertificate(cert).names, [domain]);
    const state = JSON.parse(await readFile(join(dirs().state, 'renewal.json'), 'utf8'));
    assert.equal(state.lastResult, 'renewed');
    assert.equal(state.serial, parseCertificate(cert).serial);
    assert.deepEqual(Object.keys(state).sort(), ['directoryUrl', 'issuer', 'lastAttempt', 'lastRenewed', 'lastResult', 'names', 'notAfter', 'notBefore', 'serial']);
    const account = JSON.parse(await readFile(join(dirs().state, accountDirName(pebble.directoryUrl), 'account.json'), 'utf8'));
    assert.match(account.accountUrl, /\/my-account\//);
  });

  it('says "renewed" again while the new certificate waits for nginx (reload-pending), "not-due" once it is loaded', async () => {
    // the first issuance left the marker; the unit removes it only after reloading nginx
    const marker = join(dirs().state, 'reload-pending');
    assert.ok(existsSync(marker), 'written with the certificate');
    const before = await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8');
    const again = await renew(baseArgs());
    assert.equal(again.code, 0, explain(again));
    assert.equal(again.stdout, 'renewed\n', explain(again));
    assert.match(again.stderr, /has not been loaded by nginx yet/);
    assert.equal(await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8'), before, 'nothing ordered');
    await rm(marker); // what renew.sh does after the reload
  });

  it('prints "not-due" when the certificate is valid and not due', async () => {
    const before = await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8');
    const r = await renew(baseArgs());
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.stdout, 'not-due\n', explain(r));
    assert.equal(await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8'), before);
    assert.equal(JSON.parse(await readFile(join(dirs().state, 'renewal.json'), 'utf8')).lastResult, 'not-due');
  });

  it('fails with exit 1 and one line when the preflight fails; nothing printed on stdout, files untouched', async () => {
    const before = await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8');
    const closed = await freePort();
    const r = await renew([...baseArgs(), '--force', '--check-via', `127.0.0.1:${closed}`]);
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.stdout, '', explain(r));
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    assert.match(last, new RegExp(`^renew: failed: preflight failed, no certificate was ordered: cannot connect to 127\\.0\\.0\\.1:${closed} .*firewall`), explain(r));
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('renew: failed:')).length, 1);
    assert.equal(await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8'), before);
    const state = JSON.parse(await readFile(join(dirs().state, 'renewal.json'), 'utf8'));
    assert.equal(state.lastResult, 'failed');
    assert.equal(state.serial, parseCertificate(before).serial, 'the state still describes the installed certificate');
    assert.equal(state.directoryUrl, pebble.directoryUrl);
  });

  it('rejects bad flags with exit 1', async () => {
    const r = await renew([...baseArgs(), '--staging']);
    assert.equal(r.code, 1, explain(r));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^renew: failed: --staging cannot be combined with a directory URL/m);
    const missing = await renew(['renew', '--state-dir', dirs().state]);
    assert.equal(missing.code, 1, explain(missing));
    assert.match(missing.stderr, /required option/);
  });

  it('in-process: --ca-file instead of NODE_EXTRA_CA_CERTS, renews once due by the clock', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const codes: number[] = [];
    const cert = parseCertificate(await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8'));
    const life = cert.notAfter.getTime() - cert.notBefore.getTime();
    let now = new Date(cert.notBefore.getTime() + life * 0.5);
    const io: RenewIo = { out: (t) => void out.push(t), err: (t) => void err.push(t), setExitCode: (c) => void codes.push(c), now: () => now };
    const args = [...baseArgs(), '--ca-file', caFile];
    await renewCommand(io).exitOverride().parseAsync(args.slice(1), { from: 'user' });
    assert.deepEqual([out, codes], [['not-due\n'], [0]], err.join(''));
    now = new Date(cert.notBefore.getTime() + life * 0.7);
    await renewCommand(io).exitOverride().parseAsync(args.slice(1), { from: 'user' });
    assert.deepEqual([out, codes], [['not-due\n', 'renewed\n'], [0, 0]], err.join(''));
    const renewed = parseCertificate(await readFile(join(dirs().tls, 'fullchain.pem'), 'utf8'));
    assert.notEqual(renewed.serial, cert.serial);
  });
});
