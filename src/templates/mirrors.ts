// What the registry container needs for the pull-through cache: the REGISTRY_MIRRORS* variables
// (the payload's config.ts reads them) and the read-only mount of the credentials directory.
// Secrets never appear here: compose.yaml names the files, deploy uploads their content apart.
import { posix } from 'node:path';
import { CONTAINER_PATHS, HOST_LAYOUT, REGISTRY_ENV } from '../host/contract.js';
import type { MirrorEntry } from '../settings/settings.js';

/** A mirror's credentials file name under mirror-credentials/: '/' is no name character, '+' is none of a prefix. */
export function mirrorCredentialsFileName(prefix: string): string {
  return prefix.replaceAll('/', '+');
}

export interface MirrorCompose {
  environment: Record<string, string>;
  volumes: string[];
}

/** Nothing when there are no mirrors: the registry then serves no upstream at all. */
export function mirrorCompose(mirrors: readonly MirrorEntry[] | undefined, tagTtl: string | undefined): MirrorCompose {
  if (!mirrors || mirrors.length === 0) return { environment: {}, volumes: [] };
  // the entries and the TTL come checked by src/settings/mirrors.ts (nothing here for compose to interpolate)
  const withCredentials = mirrors.filter((m) => m.credentials !== undefined);
  const def = mirrors.find((m) => m.default);
  const environment: Record<string, string> = {
    [REGISTRY_ENV.mirrors]: mirrors.map((m) => `${m.prefix}=${m.url}`).join(','),
    ...(withCredentials.length > 0
      ? { [REGISTRY_ENV.mirrorsCredentials]: withCredentials.map((m) => `${m.prefix}=${posix.join(CONTAINER_PATHS.mirrorCredentialsDir, mirrorCredentialsFileName(m.prefix))}`).join(',') }
      : {}),
    ...(def ? { [REGISTRY_ENV.mirrorsDefault]: def.prefix } : {}),
    ...(tagTtl !== undefined ? { [REGISTRY_ENV.mirrorsTagTtl]: tagTtl } : {}),
  };
  // the directory, not the files: the set of files changes with the list
  const volumes = withCredentials.length > 0 ? [`./${HOST_LAYOUT.mirrorCredentialsDir}:${CONTAINER_PATHS.mirrorCredentialsDir}:ro`] : [];
  return { environment, volumes };
}
