import type { AccessPolicy, Action, Decision, Who } from './access-policy.js';
import { describeScope, scopeAllows, type CiTokens } from './ci-tokens.js';

/**
 * The one access decision: a CI token only within its own scope, and everyone only what the
 * access policy gives (everything, without a policy). Pure, so that the registry (per request)
 * and `registry-setup access check` (from the host's files) decide alike.
 */
export function decideAccess(policy: AccessPolicy | undefined, tokens: CiTokens | undefined, who: Who, repository: string, action: Action): Decision {
  const token = who === null ? undefined : tokens?.get(who);
  if (token && !scopeAllows(token, repository, action)) {
    return { allowed: false, rule: `the scope of token ${who} (${describeScope(token)}) has no ${action} on ${repository}` };
  }
  if (!policy) return { allowed: true, rule: token ? `the scope of token ${who}` : 'no access policy' };
  return policy.decide(who, repository, action);
}
