import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseDuration } from '../config.js';
import { compileGlob, GlobError, type CompiledGlob } from '../auth/glob.js';

/**
 * Retention rules in zot's shape and with zot's meaning (zotregistry.dev, "Configuring zot Tag
 * Retention Policies"), so that zot users can copy theirs:
 * `policies: [{repositories: [globs], keepTags: [{patterns, mostRecentlyPushedCount,
 * mostRecentlyPulledCount, pushedWithin, pulledWithin}], deleteUntagged, deleteReferrers}]`.
 */
export interface KeepTagsRule {
  /** Regular expressions, matched anywhere in the tag as zot (Go's MatchString) does; none: every tag. */
  patterns: RegExp[] | null;
  mostRecentlyPushedCount?: number;
  mostRecentlyPulledCount?: number;
  pushedWithinMs?: number;
  pulledWithinMs?: number;
}

export interface RetentionPolicy {
  /** Globs of repository names (`*` within a path segment, `**` across); none: every repository. */
  repositories: CompiledGlob[] | null;
  /** Absent: every tag is kept (zot). Present: a tag is kept when any rule keeps it. */
  keepTags: KeepTagsRule[] | null;
  /** Remove manifests no kept tag reaches (zot's default: true). */
  deleteUntagged: boolean;
  /** Also remove referrers whose subject is missing altogether (zot's default: false). */
  deleteReferrers: boolean;
}

export interface RetentionRules {
  policies: RetentionPolicy[];
  /** Untagged manifests and referrers younger than this stay (zot's `delay`, default 24h). */
  delayMs: number;
}

const DEFAULT_DELAY_MS = 24 * 3600_000;

/** A `retention:` section alone, or a file whose top level has `retention:` (YAML or JSON). */
export function readRetentionFile(file: string): RetentionRules {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--policy ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give the path of a file holding the retention: rules`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`--policy ${file}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  return parseRetention(doc, `--policy ${file}`);
}

export function parseRetention(doc: unknown, where: string): RetentionRules {
  const root = (doc && typeof doc === 'object' && 'retention' in doc ? (doc as { retention: unknown }).retention : doc) as Record<string, unknown> | null;
  if (!root || typeof root !== 'object' || !Array.isArray(root.policies)) throw new ConfigError(`${where}: needs "policies:" (a list), as in zot's retention section`);
  const delayMs = root.delay === undefined ? DEFAULT_DELAY_MS : parseDuration(String(root.delay), `${where}: delay`);
  const policies = root.policies.map((raw, i) => parsePolicy(raw, `${where}: policy ${i + 1}`));
  return { policies, delayMs };
}

function count(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < 0) throw new ConfigError(`${what} must be a whole number`);
  return v as number;
}

function parsePolicy(raw: unknown, where: string): RetentionPolicy {
  if (!raw || typeof raw !== 'object') throw new ConfigError(`${where}: not a mapping`);
  const p = raw as Record<string, unknown>;
  const known = ['repositories', 'keepTags', 'deleteUntagged', 'deleteReferrers'];
  for (const key of Object.keys(p)) if (!known.includes(key)) throw new ConfigError(`${where}: unknown key ${key} (known: ${known.join(', ')})`);
  let repositories: CompiledGlob[] | null = null;
  if (p.repositories !== undefined) {
    if (!Array.isArray(p.repositories)) throw new ConfigError(`${where}: repositories must be a list of globs`);
    try {
      repositories = p.repositories.map((g) => compileGlob(String(g)));
    } catch (err) {
      if (err instanceof GlobError) throw new ConfigError(`${where}: ${err.message}`);
      throw err;
    }
  }
  let keepTags: KeepTagsRule[] | null = null;
  if (p.keepTags !== undefined) {
    if (!Array.isArray(p.keepTags)) throw new ConfigError(`${where}: keepTags must be a list`);
    keepTags = p.keepTags.map((r, j) => parseRule(r, `${where}: keepTags ${j + 1}`));
  }
  const bool = (v: unknown, dflt: boolean, what: string) => {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw new ConfigError(`${where}: ${what} must be true or false`);
    return v;
  };
  return {
    repositories,
    keepTags,
    deleteUntagged: bool(p.deleteUntagged, true, 'deleteUntagged'),
    deleteReferrers: bool(p.deleteReferrers, false, 'deleteReferrers'),
  };
}

function parseRule(raw: unknown, where: string): KeepTagsRule {
  if (!raw || typeof raw !== 'object') throw new ConfigError(`${where}: not a mapping`);
  const r = raw as Record<string, unknown>;
  let patterns: RegExp[] | null = null;
  if (r.patterns !== undefined) {
    if (!Array.isArray(r.patterns)) throw new ConfigError(`${where}: patterns must be a list of regular expressions`);
    patterns = r.patterns.map((s) => {
      try {
        return new RegExp(String(s));
      } catch {
        throw new ConfigError(`${where}: ${JSON.stringify(s)} is not a regular expression`);
      }
    });
  }
  return {
    patterns,
    mostRecentlyPushedCount: count(r.mostRecentlyPushedCount, `${where}: mostRecentlyPushedCount`),
    mostRecentlyPulledCount: count(r.mostRecentlyPulledCount, `${where}: mostRecentlyPulledCount`),
    pushedWithinMs: r.pushedWithin === undefined ? undefined : parseDuration(String(r.pushedWithin), `${where}: pushedWithin`),
    pulledWithinMs: r.pulledWithin === undefined ? undefined : parseDuration(String(r.pulledWithin), `${where}: pulledWithin`),
  };
}

/** The first policy naming the repository (zot); none: the repository is untouched. */
export function policyFor(rules: RetentionRules, repository: string): RetentionPolicy | undefined {
  return rules.policies.find((p) => !p.repositories || p.repositories.some((g) => g.matches(repository)));
}

export interface TagFacts {
  tag: string;
  digest: string;
  pushedAt: number;
  /** undefined: never pulled (that we know of) */
  pulledAt?: number;
}

/** The tags a policy keeps in one repository: those any keepTags rule keeps (all, without keepTags). */
export function keptTags(policy: RetentionPolicy, tags: TagFacts[], now: number): Set<string> {
  if (!policy.keepTags) return new Set(tags.map((t) => t.tag));
  const kept = new Set<string>();
  for (const rule of policy.keepTags) {
    const candidates = rule.patterns ? tags.filter((t) => rule.patterns!.some((re) => re.test(t.tag))) : tags;
    const criteria = [rule.mostRecentlyPushedCount, rule.mostRecentlyPulledCount, rule.pushedWithinMs, rule.pulledWithinMs];
    if (criteria.every((c) => c === undefined)) {
      for (const t of candidates) kept.add(t.tag);
      continue;
    }
    // Within a rule, a tag stays when any of its criteria keeps it (zot's union).
    if (rule.mostRecentlyPushedCount !== undefined) {
      const byPush = [...candidates].sort((a, b) => b.pushedAt - a.pushedAt || a.tag.localeCompare(b.tag));
      for (const t of byPush.slice(0, rule.mostRecentlyPushedCount)) kept.add(t.tag);
    }
    if (rule.mostRecentlyPulledCount !== undefined) {
      const byPull = candidates.filter((t) => t.pulledAt !== undefined).sort((a, b) => b.pulledAt! - a.pulledAt! || a.tag.localeCompare(b.tag));
      for (const t of byPull.slice(0, rule.mostRecentlyPulledCount)) kept.add(t.tag);
    }
    if (rule.pushedWithinMs !== undefined) for (const t of candidates) if (t.pushedAt >= now - rule.pushedWithinMs) kept.add(t.tag);
    if (rule.pulledWithinMs !== undefined) for (const t of candidates) if (t.pulledAt !== undefined && t.pulledAt >= now - rule.pulledWithinMs) kept.add(t.tag);
  }
  return kept;
}
