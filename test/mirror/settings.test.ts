// serve --mirror and REGISTRY_MIRRORS*: what is accepted, and the one line a mistake gets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/registry/config.js';
import { configFromFlags } from '../../src/registry/serve-command.js';

describe('serve --mirror settings', () => {
  it('flags: prefixes, URLs without a path, a credentials file per mirror, a default, the TTL', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-mirror-settings-'));
    try {
      const creds = path.join(dir, 'hub');
      writeFileSync(creds, '# Docker Hub\nusername = bot\npassword = s3cret\n');
      chmodSync(creds, 0o600);
      const config = configFromFlags(
        {
          mirror: ['docker.io=https://registry-1.docker.io/', 'ghcr.io=https://ghcr.io'],
          mirrorCredentials: [`docker.io=${creds}`],
          mirrorDefault: 'docker.io',
          mirrorTagTtl: '10m',
        },
        {},
      );
      assert.deepEqual(config.mirrors, [
        { prefix: 'docker.io', url: 'https://registry-1.docker.io', credentialsFile: creds },
        { prefix: 'ghcr.io', url: 'https://ghcr.io' },
      ]);
      assert.equal(config.mirrorDefault, 'docker.io');
      assert.equal(config.mirrorTagTtlMs, 600_000);
      chmodSync(creds, 0o644);
      assert.throws(() => configFromFlags({ mirror: ['docker.io=https://registry-1.docker.io'], mirrorCredentials: [`docker.io=${creds}`] }, {}), /readable by other users; chmod 600/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('REGISTRY_MIRRORS and friends, flags winning', () => {
    const config = configFromFlags({}, { REGISTRY_MIRRORS: 'docker.io=https://registry-1.docker.io, quay.io=https://quay.io', REGISTRY_MIRRORS_DEFAULT: 'docker.io', REGISTRY_MIRRORS_TAGTTL: '1m' });
    assert.deepEqual(config.mirrors.map((m) => m.prefix), ['docker.io', 'quay.io']);
    assert.equal(config.mirrorDefault, 'docker.io');
    assert.equal(config.mirrorTagTtlMs, 60_000);
    assert.deepEqual(configFromFlags({ mirror: ['ghcr.io=https://ghcr.io'] }, { REGISTRY_MIRRORS: 'docker.io=https://registry-1.docker.io' }).mirrors.map((m) => m.prefix), ['ghcr.io']);
  });

  for (const [flags, message] of [
    [{ mirror: ['docker.io'] }, /is not PREFIX=URL/],
    [{ mirror: ['Docker.IO=https://x.example'] }, /not a repository name prefix/],
    [{ mirror: ['docker.io=ftp://x.example'] }, /must be https:\/\//],
    [{ mirror: ['docker.io=https://bot:pw@registry-1.docker.io'] }, /never in the URL/],
    [{ mirror: ['docker.io=https://registry-1.docker.io/v2/'] }, /without a path/],
    [{ mirror: ['a=https://x.example', 'a/b=https://y.example'] }, /overlap/],
    [{ mirror: ['a=https://x.example'], mirrorDefault: 'b' }, /no mirror has that prefix/],
    [{ mirror: ['a=https://x.example'], mirrorCredentials: ['b=/nowhere'] }, /no mirror has the prefix "b"/],
    [{ mirror: ['a=https://x.example'], mirrorCredentials: ['a=/nowhere/creds'] }, /cannot read \/nowhere\/creds: ENOENT/],
    [{ mirror: ['a=https://x.example'], readOnly: true }, /needs a writable registry/],
  ] as const) {
    it(`refuses ${JSON.stringify(flags)} with one line`, () => {
      assert.throws(() => configFromFlags(flags as unknown as Parameters<typeof configFromFlags>[0], {}), (err: Error) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'));
    });
  }
});
