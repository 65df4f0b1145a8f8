import { AccessPolicy, AccessPolicyError, parseAccessPolicy } from './access-policy.js';
import { WatchedFile } from './watched-file.js';

/**
 * The access policy file, followed like htpasswd: an atomic replace applies within a poll; a
 * version that does not parse keeps the policy in force and is logged once; a deleted file
 * allows nothing until it is back (fail closed).
 */
export async function openAccessPolicy(path: string, log: (line: string) => void, pollMs?: number): Promise<WatchedFile<AccessPolicy>> {
  try {
    return await WatchedFile.open(path, (text) => parseAccessPolicy(text, path), AccessPolicy.denyAll(), {
      pollMs,
      onReload: (policy) => log(`access policy reloaded: ${policy.ruleCount} repository glob(s)`),
      onError: (err) => log(`access policy not reloaded, keeping the previous one: ${err.message}`),
      onMissing: () => log(`access policy file ${path} is missing: every request is refused until it is back`),
    });
  } catch (err) {
    if (err instanceof AccessPolicyError) throw err;
    throw new AccessPolicyError(`cannot read access policy file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
