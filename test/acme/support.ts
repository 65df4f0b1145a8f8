// Shared pieces of the ACME tests: certificates made with openssl, a spy on acme-client's HTTP
// traffic, and a resolver that answers every name with one address.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import acme from 'acme-client';
import type { DomainResolver } from '../../src/acme/index.js';

const execFileAsync = promisify(execFile);

export interface TestCert {
  certPem: string;
  keyPem: string;
  /** the issuing CA (absent for self-signed) */
  caPem?: string;
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed P-256 certificate for `names`, valid from now for `days`. */
export async function selfSignedCert(dir: string, names: string[], days = 90): Promise<TestCert> {
  const tag = Math.random().toString(36).slice(2);
  const certFile = join(dir, `ss-${tag}.pem`);
  const keyFile = join(dir, `ss-${tag}.key`);
  await execFileAsync('openssl', [
    'req', '-x509', ...P256, '-days', String(days), '-subj', `/CN=${names[0]}`,
    '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
    '-keyout', keyFile, '-out', certFile,
  ]);
  return { certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') };
}

/** A P-256 leaf for `names` signed by a throwaway CA ("Test CA"), valid from now for `days`; certPem is leaf + CA. */
export async function caSignedCert(dir: string, names: string[], days = 90): Promise<TestCert> {
  const tag = Math.random().toString(36).slice(2);
  const f = (n: string): string => join(dir, `${tag}-${n}`);
  await execFileAsync('openssl', ['req', '-x509', ...P256, '-days', '3650', '-subj', '/O=Test/CN=Test CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await execFileAsync('openssl', ['req', '-new', ...P256, '-subj', `/CN=${names[0]}`, '-keyout', f('leaf.key'), '-out', f('leaf.csr')]);
  await writeFile(f('ext.cnf'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
  await execFileAsync('openssl', [
    'x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', String(days), '-extfile', f('ext.cnf'), '-out', f('leaf.pem'),
  ]);
  const caPem = await readFile(f('ca.pem'), 'utf8');
  return { certPem: (await readFile(f('leaf.pem'), 'utf8')) + caPem, keyPem: await readFile(f('leaf.key'), 'utf8'), caPem };
}

export interface AcmeRequest {
  method: string;
  url: string;
}

/** Records every request acme-client makes (through acme.axios) until stop(). */
export function spyAcmeRequests(): { requests: AcmeRequest[]; posts(re: RegExp): number; stop(): void } {
  const requests: AcmeRequest[] = [];
  const id = acme.axios.interceptors.request.use((config) => {
    requests.push({ method: (config.method ?? 'get').toUpperCase(), url: config.url ?? '' });
    return config;
  });
  return {
    requests,
    posts: (re) => requests.filter((r) => r.method === 'POST' && re.test(r.url)).length,
    stop: () => acme.axios.interceptors.request.eject(id),
  };
}

/** Every name resolves to `address` (IPv4). */
export const resolveTo =
  (address: string): DomainResolver =>
  async () => [{ address, family: 4 }];

export const randomDomain = (prefix = 'registry'): string => `${prefix}-${Math.random().toString(36).slice(2, 10)}.test`;
