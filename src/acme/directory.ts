// ACME directory URLs: --acme-directory / --staging, and where each directory's account lives.
import { createHash } from 'node:crypto';

export const LETS_ENCRYPT_DIRECTORIES = {
  production: 'https://acme-v02.api.letsencrypt.org/directory',
  staging: 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

export interface DirectoryChoice {
  /** --acme-directory URL: any RFC 8555 server */
  directory?: string;
  /** --staging: Let's Encrypt's staging directory */
  staging?: boolean;
}

/** The directory URL to use: --acme-directory, else --staging, else Let's Encrypt production. */
export function resolveDirectoryUrl(choice: DirectoryChoice): string {
  if (choice.directory && choice.staging) {
    throw new Error("--staging cannot be combined with a directory URL (--staging means the Let's Encrypt staging directory)");
  }
  if (choice.directory) return validateDirectoryUrl(choice.directory);
  return choice.staging ? LETS_ENCRYPT_DIRECTORIES.staging : LETS_ENCRYPT_DIRECTORIES.production;
}

/** Parses and normalizes a directory URL; http(s) only. */
export function validateDirectoryUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(url)} (expected the ACME directory URL, e.g. ${LETS_ENCRYPT_DIRECTORIES.production})`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`ACME directory URL must be https: ${url}`);
  if (u.username || u.password) throw new Error(`ACME directory URL must not contain credentials: ${u.host}`);
  u.hash = '';
  return u.href;
}

/**
 * The directory (relative to the ACME state dir) holding the account for `directoryUrl`:
 * `<host>` for the usual `https://<host>/directory` form (Let's Encrypt production and staging),
 * else `<host>-<12 hex of sha256(full URL)>`, so two directories on one host (other port, other path)
 * never share an account.
 */
export function accountDirName(directoryUrl: string): string {
  const u = new URL(validateDirectoryUrl(directoryUrl));
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/[^a-z0-9.-]/g, '_');
  const canonical = u.protocol === 'https:' && u.port === '' && u.pathname === '/directory' && u.search === '';
  if (canonical) return host;
  const hash = createHash('sha256').update(u.href).digest('hex').slice(0, 12);
  return `${host}-${hash}`;
}

/** `<accountDirName>/account.json` */
export function accountFilePath(directoryUrl: string): string {
  return `${accountDirName(directoryUrl)}/account.json`;
}
