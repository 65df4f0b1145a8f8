import { createHash, timingSafeEqual } from 'node:crypto';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { ACTIONS, type Action } from './access-policy.js';
import { compileGlob, GlobError, type CompiledGlob } from './glob.js';

/**
 * CI tokens: named secrets that work as a password (`docker login -u ci-app`), each limited to
 * repository globs and actions and optionally to a date. The file (written by `registry-setup
 * tokens create`, 0600) holds only the SHA-256 of each secret: secrets are long and random, so a
 * fast hash is as safe as bcrypt here and keeps every request cheap.
 *
 *   tokens:
 *     - name: ci-app
 *       sha256: <64 hex digits: sha256 of the secret>
 *       repositories: ["app/**"]
 *       actions: [read, create]
 *       expires: 2027-03-06T00:00:00Z     # optional; without it the token does not expire
 *       created: 2026-12-06T20:00:00Z     # optional, informational
 *       description: builds of app        # optional, informational
 *
 * A token's scope is a policy of its own: a request must be allowed by the scope (one of its globs
 * matches and the action is listed) and by the access policy, where the token's name is the user.
 */
export class CiTokenError extends Error {}

export interface CiToken {
  name: string;
  sha256: Buffer;
  repositories: CompiledGlob[];
  actions: ReadonlySet<Action>;
  /** epoch ms; undefined: never */
  expires?: number;
}

export type TokenCheck = { ok: true; token: CiToken } | { ok: false; reason: 'unknown' | 'wrong' | 'expired'; token?: CiToken };

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const INFORMATIONAL = new Set(['created', 'description']);

export class CiTokens {
  private readonly byName: Map<string, CiToken>;

  constructor(tokens: CiToken[]) {
    this.byName = new Map(tokens.map((t) => [t.name, t]));
  }

  static none(): CiTokens {
    return new CiTokens([]);
  }

  get size(): number {
    return this.byName.size;
  }

  /** The tokens' names, sorted. */
  get names(): string[] {
    return [...this.byName.keys()].sort();
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): CiToken | undefined {
    return this.byName.get(name);
  }

  /** Checks a name and secret; an expired token is told apart so that the client can say so. */
  check(name: string, secret: string, now = Date.now()): TokenCheck {
    const token = this.byName.get(name);
    if (!token) return { ok: false, reason: 'unknown' };
    const given = createHash('sha256').update(secret).digest();
    if (!timingSafeEqual(given, token.sha256)) return { ok: false, reason: 'wrong', token };
    if (token.expires !== undefined && token.expires <= now) return { ok: false, reason: 'expired', token };
    return { ok: true, token };
  }

  /** Identifies the token's current entry (for bearer tokens issued for it); null when gone or expired. */
  credentialOf(name: string, now = Date.now()): string | null {
    const token = this.byName.get(name);
    if (!token || (token.expires !== undefined && token.expires <= now)) return null;
    return `t:${token.sha256.toString('base64url').slice(0, 22)}`;
  }
}

/** Whether the token's own scope lets it do `action` on `repository`. */
export function scopeAllows(token: CiToken, repository: string, action: Action): boolean {
  return token.actions.has(action) && token.repositories.some((g) => g.matches(repository));
}

export function describeScope(token: CiToken): string {
  return `${token.repositories.map((g) => g.pattern).join(', ')}: ${[...token.actions].join(', ')}`;
}

export function parseCiTokens(text: string, source = 'tokens file'): CiTokens {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const at = (node: Node | null | undefined) => (node?.range ? `line ${lines.linePos(node.range[0]).line}` : '');
  const fail = (node: Node | null | undefined, message: string): never => {
    throw new CiTokenError(`${source} ${at(node)}${at(node) ? ': ' : ''}${message}`);
  };
  const first = doc.errors[0];
  if (first) throw new CiTokenError(`${source} line ${first.linePos?.[0]?.line ?? '?'}: not valid YAML: ${first.message.split('\n')[0]}`);
  const root = doc.contents as Node | null;
  if (root === null || (isScalar(root) && root.value === null)) return CiTokens.none();
  if (!isMap(root)) return fail(root, 'expected a mapping with tokens:');
  let list: Node | null = null;
  for (const pair of (root as YAMLMap).items) {
    const key = pair.key as Node;
    if (!isScalar(key) || key.value !== 'tokens') fail(key, `unknown key ${JSON.stringify(isScalar(key) ? key.value : '?')} (expected tokens:)`);
    list = pair.value as Node | null;
  }
  if (list === null || (isScalar(list) && list.value === null)) return CiTokens.none();
  if (!isSeq(list)) return fail(list, 'tokens must be a list');
  const tokens: CiToken[] = [];
  const names = new Set<string>();
  for (const item of (list as { items: Node[] }).items) {
    if (!isMap(item)) fail(item, 'each token is a mapping with name, sha256, repositories, actions');
    const fields = new Map<string, Node | null>();
    for (const pair of (item as YAMLMap).items) {
      const key = pair.key as Node;
      const name = isScalar(key) ? String(key.value) : '';
      if (!['name', 'sha256', 'repositories', 'actions', 'expires', ...INFORMATIONAL].includes(name)) {
        fail(key, `unknown key "${name}" (a token has name, sha256, repositories, actions, expires)`);
      }
      fields.set(name, (pair.value as Node | null) ?? null);
    }
    const scalar = (key: string): string | undefined => {
      const node = fields.get(key);
      if (node === undefined || node === null) return undefined;
      if (!isScalar(node) || (typeof node.value !== 'string' && !(node.value instanceof Date))) fail(node, `${key} must be a string`);
      const value = (node as { value: unknown }).value;
      return value instanceof Date ? value.toISOString() : (value as string);
    };
    const name = scalar('name');
    if (!name || !NAME_RE.test(name)) fail(item, `a token needs a name of letters, digits, . _ @ - (got ${JSON.stringify(name ?? '')})`);
    const what = `token "${name}"`;
    if (names.has(name!)) fail(fields.get('name'), `${what} is listed twice`);
    names.add(name!);
    const hash = scalar('sha256');
    if (!hash || !/^[0-9a-f]{64}$/.test(hash)) fail(fields.get('sha256') ?? item, `${what}: sha256 must be 64 lowercase hex digits (the SHA-256 of the secret)`);
    const repoNode = fields.get('repositories');
    if (!repoNode || !isSeq(repoNode) || repoNode.items.length === 0) fail(repoNode ?? item, `${what}: repositories must be a non-empty list of globs`);
    const repositories = (repoNode as { items: Node[] }).items.map((g) => {
      if (!isScalar(g) || typeof g.value !== 'string') return fail(g, `${what}: every repository glob is a string`);
      try {
        return compileGlob(g.value);
      } catch (err) {
        if (err instanceof GlobError) return fail(g, `${what}: ${err.message}`);
        throw err;
      }
    });
    const actionNode = fields.get('actions');
    if (!actionNode || !isSeq(actionNode) || actionNode.items.length === 0) fail(actionNode ?? item, `${what}: actions must be a non-empty list`);
    const actions = new Set<Action>();
    for (const a of (actionNode as { items: Node[] }).items) {
      if (!isScalar(a) || !(ACTIONS as readonly unknown[]).includes(a.value)) fail(a, `${what}: unknown action ${JSON.stringify(isScalar(a) ? a.value : '?')} (actions are ${ACTIONS.join(', ')})`);
      actions.add((a as { value: Action }).value);
    }
    const expiresText = scalar('expires');
    let expires: number | undefined;
    if (expiresText !== undefined) {
      expires = Date.parse(expiresText);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(expiresText) || Number.isNaN(expires)) fail(fields.get('expires'), `${what}: expires must be an RFC 3339 time like 2027-03-06T00:00:00Z`);
    }
    tokens.push({ name: name!, sha256: Buffer.from(hash!, 'hex'), repositories, actions, expires });
  }
  return new CiTokens(tokens);
}
