// `registry-setup access show|check`: the policy and CI tokens as the host's registry reads them
// (auth/access.yaml, auth/tokens.yaml), decided by the registry's own code (registry/auth/decide.ts).
import { HOST_LAYOUT } from '../host/contract.js';
import { ACTIONS, AccessPolicyError, parseAccessPolicy, type AccessPolicy, type Action, type Decision, type Who } from '../registry/auth/access-policy.js';
import { CiTokenError, CiTokens, describeScope, parseCiTokens } from '../registry/auth/ci-tokens.js';
import { decideAccess } from '../registry/auth/decide.js';
import { isValidName } from '../registry/names.js';
import type { Deployment } from './deployment.js';
import { readUsers } from './users.js';
import { OpsError } from './errors.js';

export class AccessError extends OpsError {}

/** What `access check` takes for a request without credentials. */
export const ANONYMOUS_NAMES = ['-', 'anonymous'] as const;

export interface HostAccess {
  /** undefined: the deployment has no access: section (every signed-in user may do everything) */
  policy?: AccessPolicy;
  tokens: CiTokens;
  users: string[];
}

/** Reads the policy, the tokens and the user names from the host. */
export async function readHostAccess(d: Deployment): Promise<HostAccess> {
  const [policyRaw, tokensRaw, users] = await Promise.all([
    d.host.readFile(d.path(HOST_LAYOUT.accessPolicy), { sudo: true }),
    d.host.readFile(d.path(HOST_LAYOUT.ciTokens), { sudo: true }),
    readUsers(d),
  ]);
  return parseHostAccess(policyRaw?.toString('utf8') ?? null, tokensRaw?.toString('utf8') ?? null, users.names, `${d.hostName}:${d.path('')}`);
}

export function parseHostAccess(policyText: string | null, tokensText: string | null, users: string[], where: string): HostAccess {
  try {
    return {
      policy: policyText === null ? undefined : parseAccessPolicy(policyText, `${where}/${HOST_LAYOUT.accessPolicy}`),
      tokens: tokensText === null ? CiTokens.none() : parseCiTokens(tokensText, `${where}/${HOST_LAYOUT.ciTokens}`),
      users,
    };
  } catch (err) {
    if (err instanceof AccessPolicyError) throw new AccessError(`${err.message}; fix access: in registry-setup.yaml and deploy again`);
    if (err instanceof CiTokenError) throw new AccessError(`${err.message}; fix the file or revoke and create the token again`);
    throw err;
  }
}

export interface PermissionRow {
  /** the repository glob, or null for a repository no glob matches */
  glob: string | null;
  /** null: requests without credentials */
  user: string | null;
  /** 'user', 'token' or 'anonymous' */
  kind: 'user' | 'token' | 'anonymous';
  actions: Action[];
  /** the rule that gave each action */
  rules: string[];
  /** for a token: its own scope, which limits it further */
  scope?: string;
}

/**
 * Effective permissions per repository glob (in the order the registry tries them, longest first)
 * and principal (anonymous, every user and CI token, groups expanded), by the registry's decision
 * code. Principals with no action on a glob are left out.
 */
export function effectivePermissions(access: HostAccess): PermissionRow[] {
  const policy = access.policy;
  if (!policy) return [];
  const principals: { who: Who; kind: PermissionRow['kind']; scope?: string }[] = [{ who: null, kind: 'anonymous' }];
  for (const name of [...new Set([...access.users, ...policy.namedUsers])].sort()) if (!access.tokens.has(name)) principals.push({ who: name, kind: 'user' });
  for (const name of access.tokens.names) principals.push({ who: name, kind: 'token', scope: describeScope(access.tokens.get(name)!) });
  const rows: PermissionRow[] = [];
  for (const glob of globsOf(policy)) {
    for (const p of principals) {
      const decisions = ACTIONS.map((a) => [a, policy.decideAt(p.who, glob ?? undefined, a)] as const).filter(([, d]) => d.allowed);
      if (!decisions.length) continue;
      rows.push({ glob, user: p.who, kind: p.kind, actions: decisions.map(([a]) => a), rules: [...new Set(decisions.map(([, d]) => d.rule))], ...(p.scope ? { scope: p.scope } : {}) });
    }
  }
  return rows;
}

export function formatPermissions(access: HostAccess, rows: PermissionRow[]): string {
  if (!access.policy) return 'no access policy: every signed-in user may do everything (add access: to registry-setup.yaml and deploy)\n';
  let out = '';
  for (const glob of globsOf(access.policy)) {
    const here = rows.filter((r) => r.glob === glob);
    out += `${glob === null ? '(repositories no glob matches)' : JSON.stringify(glob)}\n`;
    if (!here.length) out += '  nobody\n';
    const width = Math.max(...here.map((r) => label(r).length), 0);
    for (const r of here) out += `  ${label(r).padEnd(width)}  ${r.actions.join(', ')}  (${r.rules.join('; ')})${r.scope ? ` within the token's scope ${r.scope}` : ''}\n`;
  }
  const others = access.tokens.names.filter((n) => !rows.some((r) => r.user === n));
  if (others.length) out += `tokens the policy gives nothing: ${others.join(', ')}\n`;
  return out;
}

/** The globs in the order they are tried, then (null) repositories no glob matches, unless `**` matches them all. */
function globsOf(policy: AccessPolicy): (string | null)[] {
  return policy.patterns.includes('**') ? policy.patterns : [...policy.patterns, null];
}

function label(r: PermissionRow): string {
  return r.user === null ? '(anonymous)' : r.kind === 'token' ? `${r.user} (token)` : r.user;
}

export interface CheckAnswer extends Decision {
  user: string | null;
  repository: string;
  action: Action;
}

/** `access check USER REPO ACTION` by the registry's decision (token scope, then the policy). */
export function checkAccess(access: HostAccess, user: string, repository: string, action: string): CheckAnswer {
  if (!(ACTIONS as readonly string[]).includes(action)) throw new AccessError(`unknown action "${action}": give one of ${ACTIONS.join(', ')}`);
  if (!isValidName(repository)) throw new AccessError(`"${repository}" is not a repository name like team/app (lower-case letters, digits, . _ - and /)`);
  const who = (ANONYMOUS_NAMES as readonly string[]).includes(user) ? null : user;
  const decision = decideAccess(access.policy, access.tokens, who, repository, action as Action);
  return { ...decision, user: who, repository, action: action as Action };
}

/** A name that is neither a user nor a token would be refused at sign-in, whatever the policy says. */
export function unknownUserNote(access: HostAccess, user: string | null): string | undefined {
  if (user === null || access.users.includes(user) || access.tokens.has(user)) return undefined;
  return `note: ${user} is neither a registry user nor a CI token on this host, so it cannot sign in`;
}
