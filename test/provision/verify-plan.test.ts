import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifyChoice, verifyDetail } from '../../src/provision/verify-plan.js';

describe("deploy's verify step: which CA, which address", () => {
  const one = { several: false, resolves: true, sshHost: '203.0.113.10' };

  it('a given CA wins, whatever the TLS mode', () => {
    const ca = Buffer.from('PEM');
    assert.deepEqual(verifyChoice({ ...one, tls: 'self-signed', verifyCa: ca }).ca, { from: 'given', ca });
    assert.deepEqual(verifyChoice({ ...one, tls: 'letsencrypt', verifyCa: ca }).ca, { from: 'given', ca });
  });

  it('self-signed: the certificate read from the host; otherwise the system trust store', () => {
    assert.deepEqual(verifyChoice({ ...one, tls: 'self-signed' }).ca, { from: 'host-certificate' });
    assert.deepEqual(verifyChoice({ ...one, tls: 'letsencrypt' }).ca, { from: 'system' });
    assert.deepEqual(verifyChoice({ ...one, tls: 'custom' }).ca, { from: 'system' });
  });

  it('one host whose name resolves: connect by name; several hosts or no DNS: the SSH address', () => {
    assert.equal(verifyChoice({ ...one, tls: 'custom' }).connectTo, undefined);
    assert.equal(verifyChoice({ ...one, tls: 'custom', several: true }).connectTo, '203.0.113.10');
    assert.equal(verifyChoice({ ...one, tls: 'custom', resolves: false }).connectTo, '203.0.113.10');
  });

  it('the detail says what was proven', () => {
    assert.equal(verifyDetail(true, 'sha256:abc'), '401 without and 200 with credentials, push and pull ok');
    assert.equal(verifyDetail(false, ''), '401 without and untested credentials');
  });
});
