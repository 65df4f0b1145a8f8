// A self-signed certificate made on the host with openssl (for `--tls self-signed`).
import { posix } from 'node:path';
import type { DeploySettings } from '../settings/settings.js';
import { HOST_LAYOUT, NGINX_UID } from '../host/contract.js';
import { isIpv4 } from '../settings/rules.js';
import type { Argv, FileSpec, Step } from './step.js';

export const SELF_SIGNED_DAYS = 825;
/** Re-issue when fewer than this many seconds of validity are left. */
export const SELF_SIGNED_RENEW_BEFORE_SECONDS = 30 * 24 * 3600;

export interface TlsPaths {
  dir: string;
  certificate: string;
  privateKey: string;
}

export function tlsPaths(installDir: string): TlsPaths {
  return {
    dir: posix.join(installDir, HOST_LAYOUT.tlsDir),
    certificate: posix.join(installDir, HOST_LAYOUT.certificate),
    privateKey: posix.join(installDir, HOST_LAYOUT.privateKey),
  };
}

/** `DNS:<name>`, or `IP:<address>` when the "domain" is an IPv4 address. */
export function subjectAltName(domain: string): string {
  return isIpv4(domain) ? `IP:${domain}` : `DNS:${domain}`;
}

/** The openssl argv: P-256 key, no passphrase, CN and SAN = the domain. */
export function selfSignedOpensslArgv(domain: string, paths: Pick<TlsPaths, 'certificate' | 'privateKey'>, days = SELF_SIGNED_DAYS): Argv {
  const san = subjectAltName(domain);
  return [
    'openssl', 'req', '-x509',
    '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-days', String(days),
    '-subj', `/CN=${domain}`,
    '-addext', `subjectAltName=${san}`,
    '-keyout', paths.privateKey,
    '-out', paths.certificate,
  ];
}

/**
 * Exit 0 when the certificate and key exist, the certificate is valid for 30 more days and its
 * subjectAltName is exactly the expected one. openssl prints e.g.
 * "X509v3 Subject Alternative Name: \n    DNS:registry.example.com" (OpenSSL 1.1.1 needs -text
 * instead of -ext, hence the fallback), and IP addresses as "IP Address:1.2.3.4".
 */
export function selfSignedCheckArgv(domain: string, paths: Pick<TlsPaths, 'certificate' | 'privateKey'>): Argv {
  const expected = isIpv4(domain) ? `IP Address:${domain}` : `DNS:${domain}`;
  const script = [
    'test -s "$2" || exit 1',
    `openssl x509 -in "$1" -noout -checkend ${SELF_SIGNED_RENEW_BEFORE_SECONDS} >/dev/null 2>&1 || exit 1`,
    'sans=$(openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null || openssl x509 -in "$1" -noout -text) || exit 1',
    'printf "%s\\n" "$sans" | grep -A1 "Subject Alternative Name" | tail -n 1 | tr -d " " | grep -qxF "$3"',
  ].join('\n');
  return ['sh', '-c', script, 'sh', paths.certificate, paths.privateKey, expected.replace(/ /g, '')];
}

/**
 * Creates tls/privkey.pem (0600, owned by nginx's uid 101, so the unprivileged nginx can read it)
 * and tls/fullchain.pem (0644). The key file is created empty with its final mode first, so the key
 * is never readable by others, even for a moment; openssl then writes into it. tls/ itself comes
 * from the directories step, which runs first (creating it here too was the one command a first
 * deploy ran twice).
 */
export function selfSignedTlsStep(settings: Pick<DeploySettings, 'domain' | 'dir'>): Step {
  const paths = tlsPaths(settings.dir);
  const owner = String(NGINX_UID);
  return {
    id: 'tls-self-signed',
    name: `Create a self-signed certificate for ${settings.domain}`,
    check: selfSignedCheckArgv(settings.domain, paths),
    commands: [
      ['install', '-m', '0600', '-o', owner, '-g', owner, '/dev/null', paths.privateKey],
      selfSignedOpensslArgv(settings.domain, paths),
      ['chown', `${owner}:${owner}`, paths.privateKey],
      ['chmod', '0600', paths.privateKey],
      ['chmod', '0644', paths.certificate],
    ],
    needsSudo: true,
  };
}

/**
 * The certificate and key deploy writes itself (`--tls custom`, and the copies of the first host's
 * self-signed pair on the others): the certificate world-readable, the key 0600 for nginx's uid
 * only and never shown in a diff.
 */
export function tlsFileSpecs(installDir: string, certificate: Buffer, privateKey: Buffer): FileSpec[] {
  const paths = tlsPaths(installDir);
  return [
    { path: paths.certificate, content: certificate, mode: 0o644 },
    { path: paths.privateKey, content: privateKey, mode: 0o600, owner: NGINX_UID, group: NGINX_UID, sensitive: true },
  ];
}
