// `gc --data DIR` (or no target): the payload's own `gc` on a data directory of this machine, run
// as a child process (src/ops/payload.ts), so the CLI needs none of the payload's storage code.
import type { GcReport } from '../registry/gc/collect.js';
import { IMAGE_COMMANDS } from '../host/contract.js';
import { OpsError } from './errors.js';
import { runPayload } from './payload.js';

export interface LocalGcOptions {
  /** the payload's default when absent (REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY or ./data) */
  data?: string;
  dryRun?: boolean;
  deleteUntagged?: boolean;
  grace?: string;
  settle?: string;
  stateFile?: string;
  /** forget mirrored repositories nobody pulled from for this long (the payload's --mirror-max-idle) */
  mirrorMaxIdle?: string;
  /** ask the payload for its report as JSON (and return it) instead of its human summary */
  json?: boolean;
}

/** The payload's `gc` arguments for these options. */
export function localGcArgs(o: LocalGcOptions): string[] {
  const args: string[] = [IMAGE_COMMANDS.gc];
  if (o.data !== undefined) args.push(`--data=${o.data}`);
  if (o.dryRun) args.push('--dry-run');
  if (o.deleteUntagged) args.push('--delete-untagged');
  if (o.grace !== undefined) args.push(`--grace=${o.grace}`);
  if (o.settle !== undefined) args.push(`--settle=${o.settle}`);
  if (o.stateFile !== undefined) args.push(`--state-file=${o.stateFile}`);
  if (o.mirrorMaxIdle !== undefined) args.push(`--mirror-max-idle=${o.mirrorMaxIdle}`);
  if (o.json) args.push('--json');
  return args;
}

export interface LocalGcRun {
  /** the payload's exit code */
  code: number;
  /** with `json`, after a successful run */
  report?: GcReport;
}

/**
 * Runs the collection; its progress lines (and, without `json`, its summary) go straight to the
 * terminal. A failure the payload explains is thrown as PayloadFailure.
 */
export async function runLocalGc(o: LocalGcOptions): Promise<LocalGcRun> {
  const run = await runPayload(localGcArgs(o), { captureStdout: o.json });
  if (run.code !== 0 || !o.json) return { code: run.code };
  try {
    return { code: 0, report: JSON.parse(run.stdout) as GcReport };
  } catch {
    throw new OpsError(`gc printed no report on stdout: ${JSON.stringify(run.stdout.slice(0, 200))}`);
  }
}
