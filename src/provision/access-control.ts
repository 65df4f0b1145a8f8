// What deploy decides for access control (settings.access): the CI tokens file every host shares,
// and the users a policy names that cannot sign in. Pure.
import { ACTIONS } from '../registry/auth/access-policy.js';
import { parseCiTokens } from '../registry/auth/ci-tokens.js';
import { accessPolicyOf } from '../settings/access.js';

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
