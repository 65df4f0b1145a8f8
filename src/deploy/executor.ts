import { createHash } from 'node:crypto';
import type { ExecResult, RemoteHost } from '../remote/index.js';
import {
  aptFetchFailure,
  formatMode,
  isAptUpdateArgv,
  installDirArgv,
  planDiff,
  type Argv,
  type DirSpec,
  type FilePlan,
  type FileSpec,
  type Probe,
  type ProbeId,
  type ProbeResult,
  type Step,
} from '../provision/index.js';

/** A repository apt could not fetch: the message names it and apt's reason. */
export class AptFetchError extends Error {
  override name = 'AptFetchError';
}

export interface FileChange {
  path: string;
  action: FilePlan['action'];
  diff?: string;
  note?: string;
}

/** Channels a preflight opens at once; OpenSSH allows 10 sessions per connection by default. */
const PROBES_AT_ONCE = 4;

/**
 * The one place that runs provisioning data on a host. Everything goes through `sudo` (a no-op
 * when the login is root); in dry-run mode reads still happen and writes are only reported.
 */
export class Executor {
  constructor(
    readonly host: RemoteHost,
    readonly dryRun: boolean,
  ) {}

  /**
   * Runs a provisioning step: `check` exit 0 skips it; in dry-run it is only reported. An
   * `apt-get update` of a step with `aptRepository` fails with apt's reason when that repository
   * could not be fetched (apt itself exits 0 then).
   */
  async runStep(step: Step): Promise<'unchanged' | 'planned' | 'done'> {
    if (step.check && (await this.run(step.check, { allowFailure: true })).code === 0) return 'unchanged';
    if (this.dryRun) return 'planned';
    if (step.files?.length) await this.applyFiles(step.files);
    for (const argv of step.commands) {
      if (!step.aptRepository || !isAptUpdateArgv(argv)) {
        await this.run(argv);
        continue;
      }
      const r = await this.run(argv, { allowFailure: true });
      const reason = aptFetchFailure(`${r.stdout}\n${r.stderr}`, step.aptRepository);
      if (reason) throw new AptFetchError(`apt-get update could not fetch ${step.aptRepository}: ${reason}`);
      if (r.code !== 0) await this.run(argv); // fails again, with the usual message and output tail
    }
    return 'done';
  }

  run(argv: Argv, opts: { stdin?: string | Buffer; allowFailure?: boolean; timeoutMs?: number; secretValues?: string[] } = {}): Promise<ExecResult> {
    return this.host.exec(argv, { sudo: true, timeoutMs: 15 * 60_000, ...opts });
  }

  /**
   * Read-only probes, all of them; a failing probe is a fact, not an error. A few run at once, each
   * on its own channel of the one connection: one after another they were most of a re-run's
   * preflight (11 round trips, ~0.15 s each, over 2 s).
   */
  async probe(probes: Probe[]): Promise<Partial<Record<ProbeId, ProbeResult>>> {
    const out: Partial<Record<ProbeId, ProbeResult>> = {};
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < probes.length) {
        const p = probes[next++]!;
        const r = await this.host.exec(p.argv, { sudo: p.needsSudo, allowFailure: true, timeoutMs: 60_000 });
        out[p.id] = { code: r.code, stdout: r.stdout, stderr: r.stderr };
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROBES_AT_ONCE, probes.length) }, worker));
    return out;
  }

  /** `test -e` for many paths in one round trip. */
  async existing(paths: string[]): Promise<Set<string>> {
    if (paths.length === 0) return new Set();
    const r = await this.run(['sh', '-c', 'for p in "$@"; do [ -e "$p" ] && printf "%s\\n" "$p"; done; exit 0', 'sh', ...paths]);
    return new Set(r.stdout.split('\n').filter(Boolean));
  }

  /** Mode and numeric owner of paths that exist: `path → "0755 0 0"`. */
  private async stats(paths: string[]): Promise<Map<string, string>> {
    const map = new Map<string, string>();
    if (paths.length === 0) return map;
    const r = await this.run(['sh', '-c', 'for p in "$@"; do [ -e "$p" ] && stat -c "%a %u %g %n" -- "$p"; done; exit 0', 'sh', ...paths]);
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const [mode, uid, gid, ...name] = line.split(' ');
      map.set(name.join(' '), `${mode!.padStart(4, '0')} ${uid} ${gid}`);
    }
    return map;
  }

  /** Creates directories or fixes their mode and owner; returns how many needed it. */
  async ensureDirectories(dirs: DirSpec[]): Promise<number> {
    const current = await this.stats(dirs.map((d) => d.path));
    const wrong = dirs.filter((d) => current.get(d.path) !== `${formatMode(d.mode)} ${d.owner ?? 0} ${d.group ?? 0}`);
    if (!this.dryRun) for (const d of wrong) await this.run(installDirArgv(d));
    return wrong.length;
  }

  /**
   * Compares files with the host by hash, mode and owner (content is fetched only for a diff)
   * and uploads what differs, each atomically. Unchanged files are not rewritten.
   */
  async applyFiles(files: FileSpec[], opts: { withDiff?: boolean } = {}): Promise<FileChange[]> {
    const paths = files.map((f) => f.path);
    const current = await this.stats(paths);
    const hashes = new Map<string, string>();
    const present = paths.filter((p) => current.has(p));
    if (present.length) {
      const r = await this.run(['sha256sum', '--', ...present]);
      for (const line of r.stdout.split('\n').filter(Boolean)) {
        const m = /^([0-9a-f]{64})\s+\*?(.*)$/.exec(line);
        if (m) hashes.set(m[2]!, m[1]!);
      }
    }
    const changes: FileChange[] = [];
    for (const file of files) {
      const meta = current.get(file.path);
      const localHash = createHash('sha256').update(file.content).digest('hex');
      const wantMeta = `${formatMode(file.mode)} ${file.owner ?? 0} ${file.group ?? 0}`;
      let change: FileChange;
      if (!meta) change = { path: file.path, action: 'create' };
      else if (hashes.get(file.path) === localHash && meta === wantMeta) change = { path: file.path, action: 'unchanged' };
      else {
        change = { path: file.path, action: 'update' };
        if (opts.withDiff) {
          const remote = file.sensitive ? Buffer.from('') : await this.host.readFile(file.path, { sudo: true });
          const [uid, gid] = meta.split(' ').slice(1).map(Number);
          const plan = planDiff([file], { [file.path]: { content: remote ?? '', mode: parseInt(meta.split(' ')[0]!, 8), uid, gid } })[0]!;
          change.diff = plan.diff;
          change.note = plan.note;
        }
      }
      if (change.action !== 'unchanged' && !this.dryRun) {
        await this.host.upload(file.path, file.content, { mode: file.mode, owner: String(file.owner ?? 0), group: String(file.group ?? 0), sudo: true });
      }
      changes.push(change);
    }
    return changes;
  }
}
