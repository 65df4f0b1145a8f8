// The host contract: every REGISTRY_* name deploy writes into compose.yaml is one the registry
// reads, and the registry reads every name of the contract.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REGISTRY_ENV } from '../../src/host/contract.js';
import { configFromEnv } from '../../src/registry/config.js';
import { composeDocument } from '../../src/templates/render.js';
import { TempDirs } from '../helpers/tmp.js';

const tmp = new TempDirs();
after(() => tmp.cleanup());

const compose = { dataDir: '/srv/registry-data', httpPort: 80, httpsPort: 443, nginxImage: 'nginx:1.27-alpine' };

function registryEnvironment(settings: typeof compose & { storage?: string; ui?: boolean }, accessControl = false): string[] {
  const doc = composeDocument(settings, { version: '1', auth: true, accessControl }) as { services: { registry: { environment: Record<string, string> } } };
  return Object.keys(doc.services.registry.environment);
}

describe('host contract', () => {
  test('compose.yaml sets only names of the contract', () => {
    const names = new Set<string>(Object.values(REGISTRY_ENV));
    const written = [...registryEnvironment(compose), ...registryEnvironment({ ...compose, storage: 's3://bucket-a/p?endpoint=http://h:1', ui: false }), ...registryEnvironment(compose, true)];
    assert.ok(written.length >= 10, written.join(' '));
    for (const name of written) assert.ok(names.has(name), `${name} is not in REGISTRY_ENV`);
  });

  test('the registry reads every name of the contract', async () => {
    const secretFile = join(await tmp.make('rs-contract-'), 'secret');
    writeFileSync(secretFile, 'x'.repeat(43));
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
      authAccessPath: '/auth/access.yaml',
      authTokensPath: '/auth/tokens.yaml',
      authTokensUsagePath: '/state/tokens-usage.json',
    };
    for (const [key, name] of Object.entries(REGISTRY_ENV) as [keyof typeof REGISTRY_ENV, string][]) {
      // REGISTRY_AUTH sets nothing itself: the registry reads it to refuse what it does not support
      if (key === 'auth') {
        assert.throws(() => configFromEnv({ [name]: 'token' }), /only "htpasswd"/, `${name} is not read by the registry`);
        continue;
      }
      assert.notDeepEqual(configFromEnv({ [name]: values[key] }), {}, `${name} is not read by the registry`);
    }
  });
});
