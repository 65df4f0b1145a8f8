// What deploy decides about the files every host shares: the users (htpasswd), the upload secret
// and the S3 credentials. Pure: deploy reads each host's copy (Buffer, or null when it has none),
// compares a given password with the stored hash (bcrypt is slow, so that stays with the caller),
// calls these and writes what they return. Several hosts get identical copies: the first host that
// has a file is the source, whatever the others hold.
import { randomBytes } from 'node:crypto';
import { SettingsError } from '../settings/resolve.js';
import { HtpasswdFile } from '../users/credentials.js';

/** The upload secret: 256 random bits; a host's copy counts when it has at least this many characters. */
const UPLOAD_SECRET_MIN = 32;
const UPLOAD_SECRET_RE = new RegExp(`^\\S{${UPLOAD_SECRET_MIN},}$`);

export function generateUploadSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A host's upload secret file as text, when it holds a usable secret. */
export function usableUploadSecret(raw: Buffer | null): string | undefined {
  const text = raw?.toString('utf8').trim();
  return text !== undefined && UPLOAD_SECRET_RE.test(text) ? text : undefined;
}

/** The htpasswd copy the hosts share: the first host's that has one. */
export function htpasswdSource(copies: readonly (Buffer | null)[]): Buffer | null {
  return copies.find((c) => c !== null) ?? null;
}

/** The user's bcrypt hash in the shared copy, to compare a given password with (undefined: no such user). */
export function storedHash(copies: readonly (Buffer | null)[], user: string): string | undefined {
  const source = htpasswdSource(copies);
  return source
    ?.toString('utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`))
    ?.slice(user.length + 1);
}

export interface UsersInput {
  user: string;
  /** each host's auth/htpasswd */
  copies: readonly (Buffer | null)[];
  /** a password the user gave (stdin or wizard) */
  password?: string;
  /** whether `password` matches storedHash (bcrypt); undefined when nothing was compared */
  passwordMatches?: boolean;
  /** makes the first user's password when none was given */
  generatePassword: () => string;
}

export interface UsersDecision {
  /** the htpasswd every host gets */
  htpasswd: string;
  /** some host's copy is rewritten (the password set, or the shared copy copied) */
  changed: boolean;
  detail: 'password set' | 'copied to every host' | 'exists';
  /** set only when this run generated the first user's password (shown once) */
  generatedPassword?: string;
}

/**
 * The first user is added when missing (with the given password, else a generated one); an
 * existing user's password changes only when one is given that does not match. Unchanged, the
 * source's text is kept byte for byte and copied to hosts that lack it or differ.
 */
export function decideUsers(i: UsersInput): UsersDecision {
  const existing = htpasswdSource(i.copies);
  const file = existing ? HtpasswdFile.parse(existing.toString('utf8')) : HtpasswdFile.empty();
  let passwordSet = false;
  let generatedPassword: string | undefined;
  if (!file.has(i.user)) {
    const password = i.password ?? i.generatePassword();
    if (i.password === undefined) generatedPassword = password;
    file.set(i.user, password);
    passwordSet = true;
  } else if (i.password !== undefined && i.passwordMatches !== true) {
    file.set(i.user, i.password);
    passwordSet = true;
  }
  const htpasswd = !passwordSet && existing ? existing.toString('utf8') : file.toString();
  const copied = !passwordSet && i.copies.some((c) => c === null || c.toString('utf8') !== htpasswd);
  return { htpasswd, changed: passwordSet || copied, detail: passwordSet ? 'password set' : copied ? 'copied to every host' : 'exists', generatedPassword };
}

/** The one line deploy says when the bucket's credentials are neither given nor on any host. */
export const S3_CREDENTIALS_MISSING = 'the bucket needs its credentials once: give --s3-credentials FILE (or --s3-credentials - to read them from stdin)';

export interface SecretsInput {
  /** each host's upload-secret */
  secretCopies: readonly (Buffer | null)[];
  /** settings.storage is set: the S3 credentials are shared too */
  storage: boolean;
  /** each host's s3-credentials (read only with storage) */
  credentialCopies: readonly (Buffer | null)[];
  /** --s3-credentials, normalized */
  givenCredentials?: string;
  several: boolean;
  generateSecret: () => string;
}

export interface SecretsDecision {
  uploadSecret: string;
  /** with storage: the credentials every host gets */
  s3Credentials?: string;
  changed: boolean;
  detail: 'the same on every host' | 'exist' | 'copied to every host' | 'generated';
}

/**
 * The upload secret (signs upload URLs, so any host can continue an upload): the first usable host
 * copy, else a new one. The S3 credentials: as given, else the first host's copy, else a
 * SettingsError (the bucket cannot be opened without them).
 */
export function decideSecrets(i: SecretsInput): SecretsDecision {
  const found = i.secretCopies.map(usableUploadSecret).find((s) => s !== undefined);
  const uploadSecret = found ?? i.generateSecret();
  let changed = i.secretCopies.some((s) => usableUploadSecret(s) !== uploadSecret);
  let s3Credentials: string | undefined;
  if (i.storage) {
    s3Credentials = i.givenCredentials ?? i.credentialCopies.find((c) => c !== null)?.toString('utf8');
    if (s3Credentials === undefined) throw new SettingsError(S3_CREDENTIALS_MISSING);
    changed ||= i.credentialCopies.some((c) => c?.toString('utf8') !== s3Credentials);
  }
  const detail = !changed ? (i.several ? 'the same on every host' : 'exist') : found ? 'copied to every host' : 'generated';
  return { uploadSecret, s3Credentials, changed, detail };
}
