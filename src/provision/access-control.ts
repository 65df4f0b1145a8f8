// What deploy decides for access control (settings.access): the CI tokens file every host shares,
// the users a policy names that cannot sign in, and the removal of a policy the settings dropped. Pure.
import { posix } from 'node:path';
import { HOST_LAYOUT } from '../host/contract.js';
import { ACTIONS } from '../registry/auth/access-policy.js';
import { parseCiTokens } from '../registry/auth/ci-tokens.js';
import { accessPolicyOf } from '../settings/access.js';
import type { Argv } from './step.js';

/** auth/tokens.yaml before the first `registry-setup tokens create`. */
export const EMPTY_TOKENS_FILE = 'tokens: []\n';

/**
 * The tokens file to write on every host: the first host's that has one (several hosts share one
 * file, as they share htpasswd), else an empty one. `changed`: some host's copy differs.
 */
export function sharedTokensFile(copies: readonly (Buffer | null)[]): { content: string; changed: boolean } {
  const content = copies.find((c) => c !== null)?.toString('utf8') ?? EMPTY_TOKENS_FILE;
  return { content, changed: copies.some((c) => c === null || c.toString('utf8') !== content) };
}

/**
 * The tokens file upgrade renders: the host's copy as it is (unchanged, so not rewritten), or an
 * empty one for a deployment from before every deployment had one (the registry needs it at start).
 */
export function tokensFileForUpgrade(hostCopy: Buffer | null): string {
  return hostCopy?.toString('utf8') ?? EMPTY_TOKENS_FILE;
}

/** Names the policy gives permissions to that are neither an htpasswd user nor a CI token. */
export function policyUsersWithoutLogin(accessText: string, htpasswdUsers: readonly string[], tokensText: string): string[] {
  const policy = accessPolicyOf(accessText, 'access policy');
  let tokens: string[] = [];
  try {
    const parsed = parseCiTokens(tokensText);
    tokens = policy.namedUsers.filter((n) => parsed.has(n));
  } catch {
    // a broken tokens file is the registry's to report; here it only means no token names
  }
  return policy.namedUsers.filter((n) => !htpasswdUsers.includes(n) && !tokens.includes(n));
}

/** The repository deploy's check pushes a tiny image to, and deletes it from, as the deploy user. */
export const DEPLOY_CHECK_REPOSITORY = 'registry-setup/check';

/**
 * What the policy keeps the deploy user from doing on the check repository (deploy would write
 * everything and then fail its check): empty when nothing.
 */
export function deployCheckDenied(accessText: string, user: string): string[] {
  const policy = accessPolicyOf(accessText, 'access policy');
  return ACTIONS.filter((a) => !policy.decide(user, DEPLOY_CHECK_REPOSITORY, a).allowed);
}

/**
 * The hosts whose deployed policy goes away: the settings have no access: (with --config, a file
 * without the section) and the host still has auth/access.yaml. `policies`: each host's copy.
 */
export function policiesToRemove<T>(access: string | undefined, hosts: readonly T[], policies: readonly (Buffer | null)[]): T[] {
  if (access !== undefined) return [];
  return hosts.filter((_, i) => policies[i] !== null && policies[i] !== undefined);
}

/** The one line deploy says when it removes a policy (and --dry-run when it would). */
export function policyRemovedLine(hostNames: readonly string[], dryRun: boolean): string {
  return `the settings have no access: section, so ${dryRun ? 'deploy would remove' : 'deploy removes'} the access policy from ${hostNames.join(', ')}: every signed-in user may then do everything again (CI tokens stay held to their own scopes)`;
}

/** Deletes auth/access.yaml (after the registry was recreated without the variable that reads it). */
export function removeAccessPolicyArgv(dir: string): Argv {
  return ['rm', '-f', '--', posix.join(dir.replace(/\/+$/, '') || '/', HOST_LAYOUT.accessPolicy)];
}
