import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { compileGlob, GlobError, type CompiledGlob } from './glob.js';

/**
 * Who may do what, in zot's `accessControl` shape (so a zot block can be copied over):
 *
 *   groups:        { <group>: { users: [..] } }
 *   repositories:  { "<glob>": { policies: [{ users, groups, actions }], defaultPolicy, anonymousPolicy } }
 *   adminPolicy:   { users, groups, actions }
 *
 * The longest glob that matches the repository decides (as in zot); its policies name users and
 * groups, `defaultPolicy` applies to every signed-in user, `anonymousPolicy` to requests without
 * credentials. `adminPolicy` applies on top, to every repository. Actions, with zot's meaning:
 * read (pull, list), create (push new content and tags), update (move an existing tag to other
 * content), delete. This module is pure: parse text, then ask `decide`.
 */
export const ACTIONS = ['read', 'create', 'update', 'delete'] as const;
export type Action = (typeof ACTIONS)[number];
/** zot actions accepted in a copied block that have no meaning here. */
const IGNORED_ACTIONS = new Set(['detectManifestCollision']);

export class AccessPolicyError extends Error {}

interface Grant {
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  actions: ReadonlySet<Action>;
}

interface RepositoryRule {
  glob: CompiledGlob;
  policies: Grant[];
  defaultPolicy: ReadonlySet<Action>;
  anonymousPolicy: ReadonlySet<Action>;
}

/** A signed-in user's name, or null for a request without credentials. */
export type Who = string | null;

export interface Decision {
  allowed: boolean;
  /** The rule that decided, in the file's terms: `repositories["app/**"].policies[0]`, `adminPolicy`, … */
  rule: string;
}

const DECISION_CACHE_LIMIT = 50_000;

export class AccessPolicy {
  /** longest glob first (file order among equal lengths): the first that matches decides */
  private readonly rules: RepositoryRule[];
  private readonly userGroups = new Map<string, string[]>();
  private readonly cache = new Map<string, Decision>();

  constructor(
    groups: Map<string, ReadonlySet<string>>,
    rules: RepositoryRule[],
    private readonly admin: Grant,
  ) {
    this.rules = [...rules].sort((a, b) => b.glob.pattern.length - a.glob.pattern.length);
    for (const [group, users] of groups) {
      for (const user of users) this.userGroups.set(user, [...(this.userGroups.get(user) ?? []), group]);
    }
  }

  /** What is in force while the policy file is missing: nothing is allowed (fail closed). */
  static denyAll(): AccessPolicy {
    return new AccessPolicy(new Map(), [], { users: new Set(), groups: new Set(), actions: new Set() });
  }

  /** True when some glob lets requests without credentials do something. */
  get allowsAnonymous(): boolean {
    return this.rules.some((r) => r.anonymousPolicy.size > 0);
  }

  get ruleCount(): number {
    return this.rules.length;
  }

  /** The groups a user belongs to (by `groups:`). */
  groupsOf(user: string): readonly string[] {
    return this.userGroups.get(user) ?? [];
  }

  decide(who: Who, repository: string, action: Action): Decision {
    const key = `${who === null ? '\u0001' : who}\u0000${repository}\u0000${action}`;
    let decision = this.cache.get(key);
    if (!decision) {
      decision = this.evaluate(who, repository, action);
      if (this.cache.size >= DECISION_CACHE_LIMIT) this.cache.clear();
      this.cache.set(key, decision);
    }
    return decision;
  }

  can(who: Who, repository: string, action: Action): boolean {
    return this.decide(who, repository, action).allowed;
  }

  /** The repository globs in the order they are tried (longest first). */
  get patterns(): string[] {
    return this.rules.map((r) => r.glob.pattern);
  }

  /** Every user the policy names (in policies, groups and adminPolicy), sorted. */
  get namedUsers(): string[] {
    const names = new Set<string>([...this.userGroups.keys(), ...this.admin.users]);
    for (const rule of this.rules) for (const p of rule.policies) for (const u of p.users) names.add(u);
    return [...names].sort();
  }

  /**
   * The decision for a repository that the glob `pattern` decides (the longest matching one), as
   * `decide` makes it: for `access show`, which lists permissions per glob. Undefined `pattern`:
   * a repository no glob matches.
   */
  decideAt(who: Who, pattern: string | undefined, action: Action): Decision {
    const rule = pattern === undefined ? undefined : this.rules.find((r) => r.glob.pattern === pattern);
    if (pattern !== undefined && !rule) throw new AccessPolicyError(`no repository glob "${pattern}" in the policy`);
    return this.evaluateRule(who, rule, pattern ?? '(a repository no glob matches)', action);
  }

  private evaluate(who: Who, repository: string, action: Action): Decision {
    return this.evaluateRule(who, this.rules.find((r) => r.glob.matches(repository)), repository, action);
  }

  private evaluateRule(who: Who, rule: RepositoryRule | undefined, repository: string, action: Action): Decision {
    const groups = who === null ? [] : this.groupsOf(who);
    const at = rule ? `repositories[${JSON.stringify(rule.glob.pattern)}]` : '';
    if (rule) {
      if (who !== null) {
        const byUser = rule.policies.findIndex((p) => p.users.has(who) && p.actions.has(action));
        if (byUser >= 0) return { allowed: true, rule: `${at}.policies[${byUser}] (user ${who})` };
        const byGroup = rule.policies.findIndex((p) => p.actions.has(action) && groups.some((g) => p.groups.has(g)));
        if (byGroup >= 0) {
          const group = groups.find((g) => rule.policies[byGroup]!.groups.has(g))!;
          return { allowed: true, rule: `${at}.policies[${byGroup}] (group ${group})` };
        }
        if (rule.defaultPolicy.has(action)) return { allowed: true, rule: `${at}.defaultPolicy` };
      } else if (rule.anonymousPolicy.has(action)) {
        return { allowed: true, rule: `${at}.anonymousPolicy` };
      }
    }
    if (who !== null && this.admin.actions.has(action) && (this.admin.users.has(who) || groups.some((g) => this.admin.groups.has(g)))) {
      return { allowed: true, rule: 'adminPolicy' };
    }
    const whom = who === null ? 'anonymous requests' : `user ${who}`;
    if (!rule) return { allowed: false, rule: `no repository glob matches "${repository}" and adminPolicy does not give ${whom} ${action}` };
    return { allowed: false, rule: `${at} (the longest matching glob) gives ${whom} no ${action}` };
  }
}

// ---------------------------------------------------------------------------------------------
// parsing

type Where = (node: Node | null | undefined) => string;

/** Parses the policy file; errors name the file, the line and the key. */
export function parseAccessPolicy(text: string, source = 'access policy'): AccessPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) throw new AccessPolicyError(`${source} line ${first.linePos?.[0]?.line ?? '?'}: not valid YAML: ${first.message.split('\n')[0]}`);
  return accessPolicyFromNode(doc.contents as Node | null, lines, source);
}

/**
 * The policy from a node of a parsed YAML document (the whole policy file, or the `access:`
 * section of registry-setup.yaml): errors name `source` and the line in that document.
 */
export function accessPolicyFromNode(node: Node | null, lines: LineCounter, source: string): AccessPolicy {
  const fail = (message: string): never => {
    throw new AccessPolicyError(`${source} ${message}`);
  };
  const where: Where = (node) => {
    const offset = node?.range?.[0];
    return offset === undefined ? '' : `line ${lines.linePos(offset).line}`;
  };
  let root = node;
  if (root === null) fail('is empty: give at least `repositories:`');
  if (!isMap(root)) fail(`${where(root)}: expected a mapping with groups, repositories and adminPolicy`);
  // a whole zot `accessControl:` block, key included, is accepted as it is
  const wrapped = (root as YAMLMap).items.length === 1 ? (root as YAMLMap).items[0] : undefined;
  if (wrapped && isScalar(wrapped.key) && wrapped.key.value === 'accessControl') {
    root = wrapped.value as Node | null;
    if (!isMap(root)) fail(`${where(wrapped.key as Node)}: accessControl must be a mapping`);
  }
  const top = entries(root as YAMLMap, 'the top level', where, fail);

  const groups = new Map<string, ReadonlySet<string>>();
  let rules: RepositoryRule[] | undefined;
  let admin: Grant = { users: new Set(), groups: new Set(), actions: new Set() };
  for (const [key, value, keyNode] of top) {
    if (key === 'groups') {
      for (const [group, body] of entries(value, 'groups', where, fail)) {
        const users = new Set<string>();
        for (const [field, list, fieldNode] of entries(body, `group "${group}"`, where, fail)) {
          if (field !== 'users') fail(`${where(fieldNode)}: group "${group}": unknown key "${field}" (a group has users:)`);
          for (const u of strings(list, `group "${group}" users`, where, fail)) users.add(u);
        }
        groups.set(group, users);
      }
    } else if (key === 'repositories') {
      rules = [];
      for (const [pattern, body, globNode] of entries(value, 'repositories', where, fail)) {
        rules.push(parseRepositoryRule(pattern, body, globNode, where, fail));
      }
    } else if (key === 'adminPolicy') {
      admin = parseGrant(value, 'adminPolicy', where, fail);
    } else if (key === 'metrics') {
      // zot's metrics readers: this registry has no metrics endpoint, so nothing to apply
    } else if (isGlobLike(key)) {
      fail(`${where(keyNode)}: "${key}" looks like a repository glob: put it under repositories: (zot's newer shape)`);
    } else {
      fail(`${where(keyNode)}: unknown key "${key}" (expected groups, repositories, adminPolicy)`);
    }
  }
  if (!rules) fail('has no repositories: section, so nobody could do anything but what adminPolicy gives');
  return new AccessPolicy(groups, rules!, admin);
}

function isGlobLike(key: string): boolean {
  return /[*/?[{]/.test(key);
}

function parseRepositoryRule(pattern: string, body: Node | null, globNode: Node | null, where: Where, fail: (m: string) => never): RepositoryRule {
  const what = `repositories["${pattern}"]`;
  let glob: CompiledGlob;
  try {
    glob = compileGlob(pattern);
  } catch (err) {
    if (err instanceof GlobError) fail(`${where(globNode)}: ${what}: ${err.message}`);
    throw err;
  }
  const rule: RepositoryRule = { glob: glob!, policies: [], defaultPolicy: new Set(), anonymousPolicy: new Set() };
  for (const [key, value, keyNode] of entries(body, what, where, fail)) {
    if (key === 'policies') {
      if (!isSeq(value)) fail(`${where(value ?? keyNode)}: ${what}.policies must be a list of {users, groups, actions}`);
      (value as { items: Node[] }).items.forEach((item, i) => rule.policies.push(parseGrant(item, `${what}.policies[${i}]`, where, fail)));
    } else if (key === 'defaultPolicy') rule.defaultPolicy = actions(value, `${what}.defaultPolicy`, where, fail);
    else if (key === 'anonymousPolicy') rule.anonymousPolicy = actions(value, `${what}.anonymousPolicy`, where, fail);
    else fail(`${where(keyNode)}: ${what}: unknown key "${key}" (expected policies, defaultPolicy, anonymousPolicy)`);
  }
  return rule;
}

function parseGrant(node: Node | null, what: string, where: Where, fail: (m: string) => never): Grant {
  const grant = { users: new Set<string>(), groups: new Set<string>(), actions: new Set<Action>() };
  for (const [key, value, keyNode] of entries(node, what, where, fail)) {
    if (key === 'users') for (const u of strings(value, `${what}.users`, where, fail)) grant.users.add(u);
    else if (key === 'groups') for (const g of strings(value, `${what}.groups`, where, fail)) grant.groups.add(g);
    else if (key === 'actions') grant.actions = actions(value, `${what}.actions`, where, fail) as Set<Action>;
    else fail(`${where(keyNode)}: ${what}: unknown key "${key}" (expected users, groups, actions)`);
  }
  return grant;
}

function actions(node: Node | null, what: string, where: Where, fail: (m: string) => never): ReadonlySet<Action> {
  const out = new Set<Action>();
  for (const a of strings(node, what, where, fail)) {
    if (IGNORED_ACTIONS.has(a)) continue;
    if (!(ACTIONS as readonly string[]).includes(a)) fail(`${where(node)}: ${what}: unknown action "${a}" (actions are ${ACTIONS.join(', ')})`);
    out.add(a as Action);
  }
  return out;
}

function strings(node: Node | null, what: string, where: Where, fail: (m: string) => never): string[] {
  if (node === null || (isScalar(node) && node.value === null)) return [];
  if (!isSeq(node)) fail(`${where(node)}: ${what} must be a list like [a, b]`);
  return (node as { items: Node[] }).items.map((item) => {
    if (!isScalar(item) || typeof item.value !== 'string' || item.value === '') fail(`${where(item)}: ${what}: every entry must be a non-empty string`);
    return (item as { value: string }).value;
  });
}

/** The key/value pairs of a mapping (an empty value is an empty mapping). */
function entries(node: Node | null | undefined, what: string, where: Where, fail: (m: string) => never): [string, Node | null, Node | null][] {
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) return [];
  if (!isMap(node)) fail(`${where(node)}: ${what} must be a mapping`);
  return (node as YAMLMap).items.map((pair) => {
    const key = pair.key as Node | null;
    if (!isScalar(key) || (typeof key.value !== 'string' && typeof key.value !== 'number')) fail(`${where(key)}: ${what}: keys must be plain names`);
    return [String((key as { value: unknown }).value), (pair.value as Node | null) ?? null, key];
  });
}
