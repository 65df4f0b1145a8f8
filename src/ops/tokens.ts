// CI tokens: auth/tokens.yaml on every host (the registry's format, see registry/auth/ci-tokens.ts),
// edited here and replaced atomically; the registry re-reads it within a second. Only the SHA-256
// of a secret is uploaded (on the upload helper's stdin, like htpasswd): the secret itself is
// shown once and goes nowhere else.
import { createHash, randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { HOST_LAYOUT, REGISTRY_UID } from '../host/contract.js';
import { ACTIONS, type Action } from '../registry/auth/access-policy.js';
import { CiTokenError, parseCiTokens } from '../registry/auth/ci-tokens.js';
import { compileGlob, GlobError } from '../registry/auth/glob.js';
import { EMPTY_TOKENS_FILE } from '../provision/access-control.js';
import type { Deployment } from './deployment.js';
import { OpsError } from './errors.js';

export class TokensError extends OpsError {}

/** One entry of the tokens file, as written. */
export interface TokenEntry {
  name: string;
  sha256: string;
  repositories: string[];
  actions: Action[];
  expires?: string;
  created?: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const DAY_MS = 86_400_000;

/**
 * The registry must read the tokens file: every deployment by this version has one (an empty one
 * when there are no tokens), with or without access:. A host without it was deployed before that.
 */
export async function requireTokensFile(d: Deployment): Promise<void> {
  if ((await d.host.readFile(d.path(HOST_LAYOUT.ciTokens), { sudo: true })) === null) throw new TokensError(noTokensFileMessage(d.hostName));
}

export function noTokensFileMessage(hostName: string): string {
  return `${hostName} has no CI tokens file yet (deployed by an older registry-setup, whose registry reads tokens only with access:): run registry-setup deploy once, then create tokens`;
}

/** The tokens file of a host (absent: none), checked by the registry's parser. */
export async function readTokenEntries(d: Deployment): Promise<TokenEntry[]> {
  const raw = await d.host.readFile(d.path(HOST_LAYOUT.ciTokens), { sudo: true });
  return parseTokenEntries(raw?.toString('utf8') ?? EMPTY_TOKENS_FILE, `${d.hostName}:${d.path(HOST_LAYOUT.ciTokens)}`);
}

export function parseTokenEntries(text: string, source: string): TokenEntry[] {
  try {
    parseCiTokens(text, source);
  } catch (err) {
    if (err instanceof CiTokenError) throw new TokensError(`${err.message}; fix or remove the file`);
    throw err;
  }
  const doc = (YAML.parse(text) ?? {}) as { tokens?: Record<string, unknown>[] | null };
  return (doc.tokens ?? []).map((t) => ({
    name: String(t.name),
    sha256: String(t.sha256),
    repositories: (t.repositories as string[]).map(String),
    actions: t.actions as Action[],
    ...(t.expires !== undefined ? { expires: t.expires instanceof Date ? t.expires.toISOString() : String(t.expires) } : {}),
    ...(t.created !== undefined ? { created: t.created instanceof Date ? t.created.toISOString() : String(t.created) } : {}),
  }));
}

export function renderTokenEntries(entries: readonly TokenEntry[]): string {
  if (!entries.length) return EMPTY_TOKENS_FILE;
  return `# CI tokens (registry-setup tokens create|revoke): SHA-256 of each secret, never the secret\n${YAML.stringify({ tokens: entries })}`;
}

/** Replaces auth/tokens.yaml atomically (temp file in auth/, then rename): 0600, the registry's uid. */
export async function writeTokenEntries(d: Deployment, entries: readonly TokenEntry[]): Promise<void> {
  await d.host.upload(d.path(HOST_LAYOUT.ciTokens), renderTokenEntries(entries), { mode: 0o600, owner: String(REGISTRY_UID), group: String(REGISTRY_UID), sudo: true });
}

export interface TokenRequest {
  name: string;
  repos: string;
  actions: string;
  /** `90d`, `12h`, an RFC 3339 time, or `never` */
  expires: string;
}

/** Checks what `tokens create` was given; errors say what to give. */
export function checkTokenRequest(r: TokenRequest, now = Date.now()): Omit<TokenEntry, 'sha256' | 'created'> {
  if (!NAME_RE.test(r.name)) throw new TokensError(`token name "${r.name}": use letters, digits, . _ @ - (up to 128), like ci-app`);
  const repositories = r.repos.split(',').map((g) => g.trim()).filter(Boolean);
  if (!repositories.length) throw new TokensError('--repos: give the repository globs the token may use, like \'app/**\'');
  for (const g of repositories) {
    try {
      compileGlob(g);
    } catch (err) {
      if (err instanceof GlobError) throw new TokensError(`--repos ${g}: ${err.message}`);
      throw err;
    }
  }
  const actions = [...new Set(r.actions.split(',').map((a) => a.trim()).filter(Boolean))];
  if (!actions.length) throw new TokensError(`--actions: give some of ${ACTIONS.join(', ')}`);
  for (const a of actions) if (!(ACTIONS as readonly string[]).includes(a)) throw new TokensError(`--actions: unknown action "${a}" (actions are ${ACTIONS.join(', ')})`);
  return { name: r.name, repositories, actions: actions as Action[], ...expiryOf(r.expires, now) };
}

function expiryOf(text: string, now: number): { expires?: string } {
  if (text === 'never') return {};
  const rel = /^(\d{1,5})([dh])$/.exec(text);
  if (rel) {
    const ms = Number(rel[1]) * (rel[2] === 'd' ? DAY_MS : DAY_MS / 24);
    if (ms === 0) throw new TokensError('--expires: give a positive duration like 90d');
    return { expires: new Date(now + ms).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  }
  const at = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(at)) throw new TokensError(`--expires ${text}: give a duration like 90d or 12h, a time like 2027-03-06T00:00:00Z, or never`);
  if (at <= now) throw new TokensError(`--expires ${text} is in the past`);
  return { expires: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/** A new secret: 256 random bits. */
export function generateTokenSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function tokenEntry(checked: Omit<TokenEntry, 'sha256' | 'created'>, secret: string, now = Date.now()): TokenEntry {
  return { ...checked, sha256: createHash('sha256').update(secret).digest('hex'), created: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/** The registry's record of when each token last signed in (state/tokens-usage.json); absent or unreadable: none. */
export function parseTokenUsage(raw: Buffer | null): Record<string, string> {
  if (!raw) return {};
  try {
    const doc = JSON.parse(raw.toString('utf8')) as unknown;
    return doc && typeof doc === 'object' && !Array.isArray(doc) ? Object.fromEntries(Object.entries(doc).filter(([, v]) => typeof v === 'string')) as Record<string, string> : {};
  } catch {
    return {};
  }
}

export async function readTokenUsage(d: Deployment): Promise<Record<string, string>> {
  return parseTokenUsage(await d.host.readFile(d.path(HOST_LAYOUT.tokensUsage), { sudo: true }));
}

/** The latest use of each token over several hosts' records. */
export function latestUse(records: readonly Record<string, string>[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of records) for (const [name, when] of Object.entries(r)) if (!out[name] || Date.parse(when) > Date.parse(out[name]!)) out[name] = when;
  return out;
}

export interface TokenRow {
  name: string;
  scope: string;
  expires: string | null;
  expired: boolean;
  lastUsed: string | null;
}

export function tokenRows(entries: readonly TokenEntry[], usage: Record<string, string>, now = Date.now()): TokenRow[] {
  return entries.map((t) => ({
    name: t.name,
    scope: `${t.repositories.join(', ')}: ${t.actions.join(', ')}`,
    expires: t.expires ?? null,
    expired: t.expires !== undefined && Date.parse(t.expires) <= now,
    lastUsed: usage[t.name] ?? null,
  }));
}

export function formatTokenRows(rows: readonly TokenRow[]): string {
  const table = [['NAME', 'SCOPE', 'EXPIRES', 'LAST USED'], ...rows.map((r) => [r.name, r.scope, r.expires ? `${r.expires}${r.expired ? ' (expired)' : ''}` : 'never', r.lastUsed ?? 'never'])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
