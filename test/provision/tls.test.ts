import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tlsFileSpecs } from '../../src/provision/index.js';

describe('TLS files deploy writes (custom, and copies of the self-signed pair)', () => {
  it('certificate 0644; private key 0600 for nginx\'s uid 101, never shown', () => {
    const [cert, key] = tlsFileSpecs('/opt/registry-setup/', Buffer.from('CERT'), Buffer.from('KEY'));
    assert.deepEqual(cert, { path: '/opt/registry-setup/tls/fullchain.pem', content: Buffer.from('CERT'), mode: 0o644 });
    assert.deepEqual(key, { path: '/opt/registry-setup/tls/privkey.pem', content: Buffer.from('KEY'), mode: 0o600, owner: 101, group: 101, sensitive: true });
  });
});
