// Registry users: auth/htpasswd on the host, edited here and replaced atomically. The running
// registry re-reads the file within a second (it watches inode and mtime), so no restart is needed.
//
// Passwords never reach the host's command lines or our command log: only the bcrypt hash is
// uploaded (on the upload helper's stdin); the check afterwards sends the password to the registry
// itself, over HTTPS, as any client would.
import { REGISTRY_UID } from '../settings/settings.js';
import { validateUser } from '../settings/resolve.js';
import { HOST_LAYOUT } from '../host/contract.js';
import { HtpasswdFile } from '../users/credentials.js';
import { publicClient, type Deployment } from './deployment.js';
import { OpsError } from './errors.js';

export class UsersError extends OpsError {}

export function checkUserName(name: string): string {
  const ok = validateUser(name);
  if (ok !== true) throw new UsersError(`user name ${ok}`);
  return name;
}

/** The users on the host (an absent file has none). */
export async function readUsers(d: Deployment): Promise<HtpasswdFile> {
  const raw = await d.host.readFile(d.path(HOST_LAYOUT.htpasswd), { sudo: true });
  if (!raw) return HtpasswdFile.empty();
  try {
    return HtpasswdFile.parse(raw.toString('utf8'));
  } catch (err) {
    throw new UsersError(`${d.path(HOST_LAYOUT.htpasswd)} on ${d.hostName} cannot be read: ${(err as Error).message}`);
  }
}

/**
 * Replaces auth/htpasswd atomically (temp file in auth/, then rename): the auth/ DIRECTORY is what
 * the registry container mounts, so it sees the new file at once. 0600, owned by the registry's uid.
 */
export async function writeUsers(d: Deployment, file: HtpasswdFile): Promise<void> {
  await d.host.upload(d.path(HOST_LAYOUT.htpasswd), file.toString(), {
    mode: 0o600,
    owner: String(REGISTRY_UID),
    group: String(REGISTRY_UID),
    sudo: true,
  });
}

/**
 * Polls the public URL until the registry answers 200 for these credentials (it re-reads htpasswd
 * within a second). 'unreachable' when the URL cannot be reached from here at all: the change
 * is made on the host either way.
 */
export async function waitAccepted(d: Deployment, user: string, password: string, timeoutMs = 10_000): Promise<{ result: 'accepted' | 'rejected' | 'unreachable' | 'throttled'; detail: string }> {
  const { client, url } = await publicClient(d, { user, password });
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const status = (await client.request('GET', '/v2/')).status;
      if (status === 200) return { result: 'accepted', detail: `${url}/v2/ accepts ${user}` };
      // failed sign-ins under this name (a job still using the old password) make it wait
      if (status === 429) return { result: 'throttled', detail: `${url}/v2/ makes ${user} wait after failed sign-ins (429), so the new password could not be checked` };
      last = `${url}/v2/ answered ${status} for ${user}`;
    } catch (err) {
      return { result: 'unreachable', detail: `${url}/v2/ is not reachable from here (${(err as Error).message})` };
    }
    if (Date.now() > deadline) return { result: 'rejected', detail: last };
    await new Promise((r) => setTimeout(r, 250));
  }
}
