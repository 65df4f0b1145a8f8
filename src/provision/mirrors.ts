// The host side of the pull-through cache: each mirror's upstream credentials as a file of its own
// under mirror-credentials/ (0600, the registry's uid: the payload refuses a file others can read),
// and the removal of the files of mirrors that are gone.
import { posix } from 'node:path';
import { HOST_LAYOUT, REGISTRY_UID } from '../host/contract.js';
import type { DeploySettings } from '../settings/settings.js';
import { mirrorCredentialsFileName } from '../templates/mirrors.js';
import { pruneFilesArgv } from './deployment.js';
import type { Argv, DirSpec, FileSpec } from './step.js';

/**
 * The directory and files for the mirrors that have credentials. Without `credentials` (upgrade) the
 * host's files stay as they are; with them, a mirror whose content is missing fails here (deploy
 * reads every file before it contacts a host).
 */
export function mirrorCredentialFiles(settings: Pick<DeploySettings, 'mirrors'>, installDir: string, credentials: ReadonlyMap<string, string> | undefined): { directories: DirSpec[]; files: FileSpec[] } {
  const withCredentials = (settings.mirrors ?? []).filter((m) => m.credentials !== undefined);
  if (withCredentials.length === 0) return { directories: [], files: [] };
  const dir = posix.join(installDir, HOST_LAYOUT.mirrorCredentialsDir);
  const dirSpec: DirSpec = { path: dir, mode: 0o700, owner: REGISTRY_UID, group: REGISTRY_UID };
  // upgrade gives none: the host's files stay as they are
  if (credentials === undefined) return { directories: [dirSpec], files: [] };
  const files = withCredentials.map((m): FileSpec => {
    const content = credentials.get(m.prefix);
    if (content === undefined) throw new Error(`the upstream credentials of the mirror ${m.prefix} were not read (${m.credentials})`);
    return { path: posix.join(dir, mirrorCredentialsFileName(m.prefix)), content, mode: 0o600, owner: REGISTRY_UID, group: REGISTRY_UID, sensitive: true };
  });
  return { directories: [dirSpec], files };
}

/** Removes the credentials files of mirrors no longer in the list (run after the files are written). */
export function pruneMirrorCredentialsArgv(settings: Pick<DeploySettings, 'mirrors' | 'dir'>): Argv {
  const keep = (settings.mirrors ?? []).filter((m) => m.credentials !== undefined).map((m) => mirrorCredentialsFileName(m.prefix));
  return pruneFilesArgv(posix.join(settings.dir.replace(/\/+$/, '') || '/', HOST_LAYOUT.mirrorCredentialsDir), keep);
}
