// status's view of the host's retention runs (state/retention.json, written by the image's
// `retention --state-file`): the last run, and whether the daily timer is failing or missing runs.
import { formatBytes } from '../registry/format-bytes.js';
import { RETENTION_LAYOUT } from '../host/contract.js';
import type { RetentionStateRecord } from '../registry/retention/retention-command.js';

/** No successful run for this long while the timer is installed: a run was missed (daily + 1 h delay + slack). */
export const RETENTION_MISSED_MS = 36 * 3600_000;

export interface RetentionFacts {
  /** state/retention.json, parsed (null: none) */
  record: Record<string, unknown> | null;
  /** when the timer was installed (retention.sh's modification time); undefined: not installed */
  installedAt?: number;
  now?: number;
}

export interface RetentionCheck {
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

const age = (ms: number) => {
  const h = Math.round(ms / 3600_000);
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} days`;
};

/** A failed last run, or none successful within 36 h while the timer is installed, fails. */
export function retentionCheck(f: RetentionFacts): RetentionCheck {
  const now = f.now ?? Date.now();
  const installed = f.installedAt !== undefined;
  const r = f.record as Partial<RetentionStateRecord> | null;
  if (!r) {
    if (!installed) return { status: 'ok', detail: 'not configured (retention: in registry-setup.yaml installs a daily run)' };
    if (now - f.installedAt! > RETENTION_MISSED_MS) return { status: 'fail', detail: `no run recorded since the timer was installed ${age(now - f.installedAt!)} ago (is the timer running? systemctl status registry-setup-retention.timer)` };
    return { status: 'ok', detail: 'no run yet (the daily timer runs at 03:00 plus up to 1 h)' };
  }
  const when = typeof r.time === 'string' ? Date.parse(r.time) : NaN;
  const stamp = Number.isNaN(when) ? 'unknown time' : `${r.time} (${age(now - when)} ago)`;
  if (r.ok !== true) return { status: installed ? 'fail' : 'warn', detail: `${stamp}: failed: ${String(r.error ?? 'unknown error')}` };
  const what = `${r.dryRun ? 'dry run, ' : ''}${Number(r.deletedTags ?? 0)} tag(s) and ${Number(r.deletedManifests ?? 0)} untagged manifest(s) removed, ${formatBytes(Number(r.freedBytes ?? 0))} freed, no errors`;
  if (installed && (Number.isNaN(when) || now - when > RETENTION_MISSED_MS)) {
    return { status: 'fail', detail: `${stamp}: last run ${what}; none since: missed runs (systemctl status registry-setup-retention.timer)` };
  }
  return { status: 'ok', detail: `${stamp}: ${what}` };
}

/** The record and the timer's install time, read over the deployment's connection. */
export async function readRetentionFacts(d: {
  host: { readFile(p: string, o: { sudo?: boolean }): Promise<Buffer | null> };
  exec: { run(argv: string[], o: { allowFailure?: boolean }): Promise<{ code: number; stdout: string }> };
  path(rel: string): string;
}): Promise<Omit<RetentionFacts, 'now'>> {
  const [raw, stat] = await Promise.all([
    d.host.readFile(d.path(RETENTION_LAYOUT.state), { sudo: true }).catch(() => null),
    d.exec.run(['stat', '-c', '%Y', '--', d.path(RETENTION_LAYOUT.script)], { allowFailure: true }),
  ]);
  let record: Record<string, unknown> | null = null;
  if (raw) {
    try {
      const doc = JSON.parse(raw.toString('utf8')) as unknown;
      record = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : { ok: false, error: 'retention.json is not a JSON object' };
    } catch (err) {
      record = { ok: false, error: `retention.json is unreadable: ${(err as Error).message}` };
    }
  }
  const seconds = Number(stat.stdout.trim());
  return { record, ...(stat.code === 0 && Number.isFinite(seconds) ? { installedAt: seconds * 1000 } : {}) };
}
