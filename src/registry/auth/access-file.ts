import { AccessPolicy, AccessPolicyError, parseAccessPolicy } from './access-policy.js';
import { CiTokenError, CiTokens, parseCiTokens } from './ci-tokens.js';
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

/**
 * The CI tokens file, followed the same way: a replaced file (a revoked token) applies within a
 * poll; a broken version keeps the tokens in force and is logged once; a deleted file means no
 * token signs in.
 */
export async function openCiTokens(path: string, log: (line: string) => void, pollMs?: number): Promise<WatchedFile<CiTokens>> {
  try {
    return await WatchedFile.open(path, (text) => parseCiTokens(text, path), CiTokens.none(), {
      pollMs,
      onReload: (tokens) => log(`tokens reloaded: ${tokens.size} token(s)`),
      onError: (err) => log(`tokens not reloaded, keeping the previous ones: ${err.message}`),
      onMissing: () => log(`tokens file ${path} is missing: no token signs in until it is back`),
    });
  } catch (err) {
    if (err instanceof CiTokenError) throw err;
    throw new CiTokenError(`cannot read tokens file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
