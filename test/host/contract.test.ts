// The host contract: every REGISTRY_* name deploy writes into compose.yaml is one the registry
// reads, and the registry reads every name of the contract.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REGISTRY_ENV } from '../../src/host/contract.js';
import { configFromEnv } from '../../src/registry/config.js';
import { composeDocument } from '../../src/templates/render.js';
import type { DeploySettings } from '../../src/settings/settings.js';
import { TempDirs } from '../helpers/tmp.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

const compose = { dataDir: '/srv/registry-data', httpPort: 80, httpsPort: 443, nginxImage: 'nginx:1.27-alpine' };

function registryEnvironment(settings: typeof compose & { storage?: string; ui?: boolean; mirrors?: DeploySettings['mirrors']; mirrorTagTtl?: string; notify?: Record<string, unknown>[] }, accessControl = false): string[] {
  const doc = composeDocument(settings, { version: '1', auth: true, accessControl }) as { services: { registry: { environment: Record<string, string> } } };
  return Object.keys(doc.services.registry.environment);
}

describe('host contract', () => {
  test('compose.yaml sets only names of the contract', () => {
    const names = new Set<string>(Object.values(REGISTRY_ENV));
    const mirrors = [{ prefix: 'docker.io', url: 'https://registry-1.docker.io', credentials: './hub', default: true }];
    const written = [
      ...registryEnvironment(compose),
      ...registryEnvironment({ ...compose, storage: 's3://bucket-a/p?endpoint=http://h:1', ui: false }),
      ...registryEnvironment({ ...compose, mirrors, mirrorTagTtl: '10m' }),
      ...registryEnvironment(compose, true),
      ...registryEnvironment({ ...compose, notify: [{ url: 'https://hooks.example.com/' }] }),
    ];
    for (const name of ['REGISTRY_MIRRORS', 'REGISTRY_MIRRORS_CREDENTIALS', 'REGISTRY_MIRRORS_DEFAULT', 'REGISTRY_MIRRORS_TAGTTL']) assert.ok(written.includes(name), name);
    assert.ok(written.length >= 10, written.join(' '));
    for (const name of written) assert.ok(names.has(name), `${name} is not in REGISTRY_ENV`);
  });

  test('the registry reads every name of the contract', async () => {
    const secretFile = join(await tmp.make('rs-contract-'), 'secret');
    writeFileSync(secretFile, 'x'.repeat(43));
    const credentialsFile = join(await tmp.make('rs-contract-'), 'mirror-credentials');
    writeFileSync(credentialsFile, 'username = u\npassword = p\n', { mode: 0o600 });
    const values: Record<keyof typeof REGISTRY_ENV, string> = {
      httpAddr: '127.0.0.1:5001',
      httpSecret: 'y'.repeat(43),
      httpSecretFile: secretFile,
      httpAccelRedirect: '/_registry_blob_bytes/',
      httpTlsCertificate: '/tls/cert.pem',
      httpTlsKey: '/tls/key.pem',
      auth: 'htpasswd',
      authHtpasswdPath: '/auth/htpasswd',
      authHtpasswdRealm: 'Realm',
      storageFilesystemRoot: '/data',
      storageUrl: 's3://bucket-a/p',
      storageS3CredentialsFile: '/creds',
      storageDeleteEnabled: 'false',
      storageReadOnly: 'true',
      uiEnabled: 'false',
      uploadPurgingAge: '2h',
      uploadPurgingInterval: '3h',
      mirrors: 'docker.io=https://registry-1.docker.io',
      mirrorsCredentials: `docker.io=${credentialsFile}`,
      mirrorsDefault: 'docker.io',
      mirrorsTagTtl: '10m',
      httpTrustProxy: 'true',
      metricsAddr: '0.0.0.0:5001',
      stateDirectory: '/state',
      notificationsConfig: '/notify/endpoints.yaml',
      notificationsDirectory: '/state/events',
      authAccessPath: '/auth/access.yaml',
      authTokensPath: '/auth/tokens.yaml',
      authTokensUsagePath: '/state/tokens-usage.json',
      notificationsUrls: 'https://hooks.example.com/a',
      mirrorsTimeout: '30s',
      logAccessLogDisabled: 'true',
    };
    for (const [key, name] of Object.entries(REGISTRY_ENV) as [keyof typeof REGISTRY_ENV, string][]) {
      // REGISTRY_AUTH sets nothing itself: the registry reads it to refuse what it does not support
      if (key === 'auth') {
        assert.throws(() => configFromEnv({ [name]: 'token' }), /only "htpasswd"/, `${name} is not read by the registry`);
        continue;
      }
      // credentials belong to a mirror: read with the list they are for
      if (key === 'mirrorsCredentials') {
        const config = configFromEnv({ [REGISTRY_ENV.mirrors]: values.mirrors, [name]: values[key] });
        assert.equal(config.mirrors?.[0]?.credentialsFile, credentialsFile, `${name} is not read by the registry`);
        continue;
      }
      assert.notDeepEqual(configFromEnv({ [name]: values[key] }), {}, `${name} is not read by the registry`);
    }
  });

  test('the registry reads every REGISTRY_* name through the contract, none as a literal', () => {
    // a name spelled out in config.ts would be one the contract (and so deploy) does not know of
    const source = readFileSync(new URL('../../src/registry/config.ts', import.meta.url), 'utf8');
    const literals = source.match(/['"`]REGISTRY_[A-Z][A-Z0-9_]*/g) ?? [];
    assert.deepEqual(literals, [], 'src/registry/config.ts names REGISTRY_* variables as literals: add them to REGISTRY_ENV');
    assert.match(source, /env\[REGISTRY_ENV\.httpAddr\]/, 'config.ts no longer reads the environment through REGISTRY_ENV');
  });
});
