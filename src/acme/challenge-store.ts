// Where HTTP-01 key authorizations go: nginx serves `<webroot>/.well-known/acme-challenge/<token>`
// on port 80. The deploy CLI implements ChallengeStore over SSH; on the host the renew command uses
// LocalChallengeStore.
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isNotFound, writeFileAtomic } from './fs-atomic.js';

/** The URL path (and the directory under the webroot) of HTTP-01 challenges. */
export const ACME_CHALLENGE_PATH = '/.well-known/acme-challenge/';

export interface ChallengeStore {
  /**
   * Makes `http://<domain>/.well-known/acme-challenge/<token>` answer `keyAuthorization` (exact
   * bytes, no newline). Must be atomic: a reader never sees a partial file. Overwrites.
   */
  put(token: string, keyAuthorization: string): Promise<void>;
  /** Removes the token; no error when it is already gone. */
  remove(token: string): Promise<void>;
}

/** ACME tokens are base64url (RFC 8555 §8.3); anything else could escape the directory. */
export function assertValidToken(token: string): void {
  if (!/^[A-Za-z0-9_-]{1,256}$/.test(token)) throw new Error(`refusing an ACME challenge token that is not base64url: ${JSON.stringify(token.slice(0, 80))}`);
}

/**
 * Files in `<webroot>/.well-known/acme-challenge/` (mode 0644, directories 0755, created when
 * missing), written as a temp file in the same directory and renamed into place.
 */
export class LocalChallengeStore implements ChallengeStore {
  readonly challengeDir: string;

  constructor(readonly webroot: string) {
    this.challengeDir = join(webroot, ACME_CHALLENGE_PATH);
  }

  async put(token: string, keyAuthorization: string): Promise<void> {
    assertValidToken(token);
    await mkdir(this.challengeDir, { recursive: true, mode: 0o755 });
    await writeFileAtomic(join(this.challengeDir, token), keyAuthorization, { mode: 0o644 });
  }

  async remove(token: string): Promise<void> {
    assertValidToken(token);
    try {
      await unlink(join(this.challengeDir, token));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}
