import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { parseHtpasswd } from '../registry/auth/htpasswd.js';

/** bcrypt cost for the hashes we write: slow enough to resist offline guessing; the registry caches successes. */
export const BCRYPT_COST = 10;

/** 144 random bits as URL-safe text: easy to paste, no shell-special characters. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** For a password the user chooses (the wizard, --password-stdin); generated ones are longer. */
export const MIN_PASSWORD_LENGTH = 8;

export function hashPassword(password: string): string {
  // htpasswd -B writes $2y$; bcryptjs writes $2b$ (same algorithm). Keep the htpasswd spelling.
  return bcrypt.hashSync(password, BCRYPT_COST).replace(/^\$2b\$/, '$2y$');
}

/** An htpasswd file as an ordered list of users; round-trips files written by `htpasswd -B`. */
export class HtpasswdFile {
  private constructor(private readonly users: Map<string, string>) {}

  static parse(text: string): HtpasswdFile {
    return new HtpasswdFile(parseHtpasswd(text));
  }

  static empty(): HtpasswdFile {
    return new HtpasswdFile(new Map());
  }

  get names(): string[] {
    return [...this.users.keys()];
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  /** Adds or replaces a user's password. */
  set(user: string, password: string): void {
    if (user.includes(':') || /\s/.test(user) || user === '') throw new Error(`"${user}" cannot be an htpasswd user name`);
    this.users.set(user, hashPassword(password));
  }

  remove(user: string): boolean {
    return this.users.delete(user);
  }

  toString(): string {
    return [...this.users].map(([u, h]) => `${u}:${h}\n`).join('');
  }
}
