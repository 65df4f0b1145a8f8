import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startProcess } from '../helpers/process.js';
import { freePort, waitForHttp, basicAuth } from '../helpers/net.js';
import { TempDirs } from '../helpers/tmp.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { ourRegistryBundle, startOurRegistry } from '../helpers/registries.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('the registry process', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());

  it("honours distribution's REGISTRY_* environment variables", async () => {
    const dir = await tmp.make();
    const port = await freePort();
    const htpasswd = path.join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, [{ user: 'env', password: 'secret-env' }]);
    const proc = startProcess(process.execPath, [ourRegistryBundle], {
      name: 'registry-env',
      env: {
        ...process.env,
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(dir, 'data'),
        REGISTRY_AUTH: 'htpasswd',
        REGISTRY_AUTH_HTPASSWD_PATH: htpasswd,
        REGISTRY_AUTH_HTPASSWD_REALM: 'Env Realm',
        REGISTRY_STORAGE_DELETE_ENABLED: 'false',
      },
    });
    try {
      await proc.waitForLine(/registry listening on/, 10_000);
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      assert.equal(res.status, 401, proc.logTail());
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Env Realm"');
      const ok = await fetch(`http://127.0.0.1:${port}/v2/`, { headers: { Authorization: basicAuth('env', 'secret-env') } });
      assert.equal(ok.status, 200);
      const del = await fetch(`http://127.0.0.1:${port}/v2/a/manifests/t`, { method: 'DELETE', headers: { Authorization: basicAuth('env', 'secret-env') } });
      assert.equal(del.status, 405);
    } finally {
      await proc.stop();
    }
  });

  it('finishes an in-flight download after SIGTERM, then exits 0', async () => {
    const reg = await startOurRegistry();
    try {
      const blob = Buffer.alloc(32 * 1024 * 1024, 9);
      const digest = sha256(blob);
      const put = await fetch(`${reg.url}/v2/big/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
      assert.equal(put.status, 201);
      // Read slowly so that the response is still streaming when the signal arrives.
      const received = new Promise<Buffer>((resolve, reject) => {
        http.get(`${reg.url}/v2/big/blobs/${digest}`, { highWaterMark: 16 * 1024 } as http.RequestOptions, (res) => {
          const chunks: Buffer[] = [];
          let signalled = false;
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            if (!signalled) {
              signalled = true;
              res.pause();
              reg.process.child.kill('SIGTERM');
              reg.process.waitForLine(/SIGTERM/, 5000, 'any').then(() => res.resume(), reject);
            }
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        }).on('error', reject);
      });
      const body = await received;
      assert.equal(sha256(body), digest, reg.logTail());
      const exit = await reg.process.exited;
      assert.equal(exit.code, 0, reg.logTail());
      // New connections are refused once it is down.
      await assert.rejects(waitForHttp(`${reg.url}/v2/`, [200], 300));
    } finally {
      await reg.stop();
    }
  });

  it('refuses a bad flag with one clear line', async () => {
    const proc = startProcess(process.execPath, [ourRegistryBundle, 'serve', '--port', 'abc'], { name: 'bad-flag' });
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    assert.match(proc.logTail(), /--port: "abc" is not a port number/);
    assert.doesNotMatch(proc.logTail(), /at .*\.mjs:\d+/);
  });

  it('refuses an empty or foreign --host, a data directory it cannot use, a bad TLS pair and an htpasswd folder, before listening', async () => {
    const dir = await tmp.make('rs-serve-bad-');
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const cases: [string[], RegExp][] = [
      [['--host', '', '--data', dir], /--host is empty: give an address/],
      [['--data', ''], /--data is empty/],
      [['--data', file], /a-file: not a directory/],
      // a folder that cannot be made, even by root
      [['--data', path.join(file, 'data')], /cannot make the data directory there: part of the path is a file/],
    ];
    // TLS pairs: swapped, and a key of another certificate
    const pem = (name: string) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`), '-subj', `/CN=${name}`, '-days', '1'], { stdio: 'ignore' });
      return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
    };
    const [a, b] = [pem('a'), pem('b')];
    const folder = path.join(dir, 'htpasswd-folder');
    mkdirSync(folder);
    cases.push(
      [['--data', dir, '--tls-cert', a.key, '--tls-key', a.cert], /not a PEM certificate and its PEM private key \(were the two swapped\?\)/],
      [['--data', dir, '--tls-cert', a.cert, '--tls-key', b.key], /the key does not belong to the certificate/],
      [['--data', dir, '--htpasswd', folder], /cannot read htpasswd file .*htpasswd-folder: it is a directory/],
      // TEST-NET-1: no machine has it, and binding sends nothing (a name to resolve would ask DNS)
      [['--data', dir, '--host', '192.0.2.1'], /cannot listen on 192\.0\.2\.1: not an address of this machine; check --host/],
    );
    for (const [args, message] of cases) {
      const proc = startProcess(process.execPath, [ourRegistryBundle, 'serve', '--port', '0', ...args], { name: 'bad-data' });
      const exit = await proc.exited;
      assert.equal(exit.code, 1, `${args.join(' ')}\n${proc.logTail()}`);
      assert.match(proc.logTail(), message);
      assert.doesNotMatch(proc.logTail(), /listening|at .*\.mjs:\d+/);
    }
    // read-only serving needs no write access
    const ro = await startOurRegistry({ dataDir: dir, extraArgs: ['--read-only'] });
    await ro.stop();
  });
});
