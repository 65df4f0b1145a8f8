// Results: the JSON document written to bench/results/, and the table printed at the end, with
// the ratio ours/distribution for every figure and whether that ratio is better or worse for us,
// and in the throughput scenarios the S3 column: ours on the S3 driver, with the ratio S3/filesystem.
// Then the deploy timing: a first `registry-setup deploy` and an unchanged re-run, step by step.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_STEP, type DeployInfo, type DeployRun } from './deploy.js';
import { S3_LABEL, type S3Info } from './s3.js';
import type { Kind } from './servers.js';
import type { Better, Metrics } from './scenarios.js';
import type { StackInfo } from './stack.js';
import type { BareDeployInfo } from './bare-deploy.js';

export interface RegistryResult {
  metrics: Metrics;
  /** phases stopped by the time cap before their count */
  truncated: string[];
  wallSeconds: number;
  serverCpuSeconds: number;
  clientCpuSeconds: number;
  /** machine busy time that was neither the server's nor the client's (other processes, unattributed kernel work) */
  otherCpuSeconds: number;
  /** the S3 store's daemons (ours-s3 only): CPU time during the run (not in otherCpuSeconds), RSS at its end */
  store?: { cpuSeconds: number; rssMiB: number };
}

/** The S3 column of a scenario: ours on the S3 driver (RGW), next to ours on the filesystem. */
export interface S3Column {
  result: RegistryResult;
  /** ours on S3 / ours on the filesystem for every figure; null when the filesystem's figure is 0 or missing */
  ratio: Record<string, number | null>;
}

export interface ScenarioResult {
  id: string;
  title: string;
  ours: RegistryResult;
  distribution: RegistryResult;
  /** ours / distribution for every figure; null when distribution's figure is 0 or missing */
  ratio: Record<string, number | null>;
  /** "better" / "worse" / "even" (within ±3%) for us, "" for figures without a direction */
  verdict: Record<string, string>;
  /** throughput scenarios (and whole-pass) when the S3 column ran */
  s3?: S3Column;
}

export interface PassResult {
  name: string;
  auth: boolean;
  scenarios: Record<string, ScenarioResult>;
}

export interface Baselines {
  diskDurableWriteMiBps: number;
  diskBufferedWriteMiBps: number;
  diskTestBytes: number;
  clientSingleStreamPullMiBps: number;
  clientConcurrentPullMiBps: number;
  clientConcurrency: number;
  fileServerCpuSecondsPerGiB: number;
}

export interface BenchResult {
  meta: Record<string, unknown>;
  /** absent when no registry scenario ran (--scenarios deploy) */
  baselines?: Baselines;
  /** whether the S3 column ran, against what, and why not */
  s3: S3Info;
  /** empty when no registry scenario ran */
  passes: Record<string, PassResult>;
  /** the deploy timing (absent in results from before it existed) */
  deploy?: DeployInfo;
  /** the stack bench, ours deployed vs the classic hand-built stack (absent when not selected) */
  stack?: StackInfo;
  /** the first deploy onto a bare host (absent when not selected) */
  bareDeploy?: BareDeployInfo;
}

const EVEN = 0.03;
/** The figure run.ts adds to every scenario, and the level from which the client is the bottleneck. */
export const CLIENT_CPU = 'client CPU % (of one core)';
const CLIENT_BOUND = 90;
export const OTHER_CPU = 'other CPU % (rest of the machine)';
const BUSY_MACHINE = 30;

export function verdictOf(ratio: number | null, better: Better): string {
  if (better === 'info' || ratio === null || !Number.isFinite(ratio)) return '';
  if (Math.abs(ratio - 1) <= EVEN) return 'even';
  return (ratio > 1) === (better === 'higher') ? 'better' : 'worse';
}

function ratios(num: RegistryResult, den: RegistryResult): Record<string, number | null> {
  const ratio: Record<string, number | null> = {};
  for (const [key, n] of Object.entries(num.metrics)) {
    const d = den.metrics[key];
    ratio[key] = d && d.value !== 0 && Number.isFinite(d.value) && Number.isFinite(n.value) ? n.value / d.value : null;
  }
  return ratio;
}

/** ours vs distribution (ratio and verdict); with `s3`, also ours on S3 vs ours on the filesystem. */
export function compare(id: string, title: string, results: Record<Kind, RegistryResult>, s3?: RegistryResult): ScenarioResult {
  const ratio = ratios(results.ours, results.distribution);
  const verdict: Record<string, string> = {};
  for (const [key, ours] of Object.entries(results.ours.metrics)) verdict[key] = verdictOf(ratio[key] ?? null, ours.better);
  const out: ScenarioResult = { id, title, ours: results.ours, distribution: results.distribution, ratio, verdict };
  if (s3) out.s3 = { result: s3, ratio: ratios(s3, results.ours) };
  return out;
}

export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 0.1 || a === 0) return v.toFixed(2);
  return v.toPrecision(2);
}

function table(rows: string[][], rightAligned: Set<number>): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => (rightAligned.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
      return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

export function renderReport(result: BenchResult): string {
  const b = result.baselines;
  const out: string[] = [];
  if (!b) {
    out.push(`registry-setup benchmark: ${String(result.meta.mode)} run, ${String(result.meta.startedAt)}, git ${String(result.meta.gitSha)}, node ${String(result.meta.node)}, ${String(result.meta.cpus)} CPUs`);
    out.push('', ...renderDeploy(result.deploy));
    return out.join('\n');
  }
  out.push(`registry benchmark: ours (dist/registry/registry.mjs) vs CNCF distribution (${String(result.meta.distributionVersion ?? '?')})`);
  const load = (v: unknown) => (Array.isArray(v) ? v.map((x) => fmt(Number(x))).join(' ') : '?');
  out.push(
    `${String(result.meta.mode)} run, ${String(result.meta.startedAt)}, git ${String(result.meta.gitSha)}, node ${String(result.meta.node)}, ` +
      `${String(result.meta.cpus)} CPUs, load average ${load(result.meta.loadavgAtStart)} at start, ${load(result.meta.loadavgAtEnd)} at end`,
  );
  out.push('');
  out.push('Baselines (same filesystem, same client):');
  out.push(`  disk, raw write of ${fmt(b.diskTestBytes / 1024 / 1024)} MiB + fdatasync: ${fmt(b.diskDurableWriteMiBps)} MiB/s durable (${fmt(b.diskBufferedWriteMiBps)} MiB/s before the fdatasync)`);
  out.push(
    `  client pull ceiling vs a trivial node file server, sha256-verified: 1 stream ${fmt(b.clientSingleStreamPullMiBps)} MiB/s; ` +
      `${b.clientConcurrency} streams ${fmt(b.clientConcurrentPullMiBps)} MiB/s (file server CPU ${fmt(b.fileServerCpuSecondsPerGiB)} s/GiB)`,
  );
  const s3 = result.s3;
  if (s3.enabled) {
    out.push(
      `  S3 column: ours on the S3 driver against ${s3.store ?? 'RGW'}${s3.rgwVersion ? ` (${s3.rgwVersion})` : ''}, in the throughput scenarios; ` +
        'RAM-backed, so it shows the cost of the S3 path (HTTP to RGW, multipart parts, server-side copy), not a disk\'s',
    );
    if (s3.reduced) out.push(`  S3 column REDUCED: ${s3.reduced}`);
  } else {
    out.push(`  S3 column skipped: ${s3.skipped ?? 'not run'}`);
  }
  out.push('');
  out.push('ratio = ours/dist; "better"/"worse" is from our point of view (higher is better for rates, lower for ms, CPU and RSS); "even" = within ±3%.');
  const withS3 = Object.values(result.passes).some((pass) => Object.values(pass.scenarios).some((sc) => sc.s3));
  if (withS3) out.push(`${S3_LABEL}: the same registry on the S3 driver; S3/fs = ${S3_LABEL} / ours (on the filesystem); not part of the verdict.`);
  const header = ['pass', 'scenario', 'figure', 'ours', 'distribution', 'ratio', 'verdict'];
  const rows: string[][] = [withS3 ? [...header, S3_LABEL, 'S3/fs'] : header];
  const notes: string[] = [];
  for (const pass of Object.values(result.passes)) {
    for (const sc of Object.values(pass.scenarios)) {
      let first = true;
      for (const [key, metric] of Object.entries(sc.ours.metrics)) {
        const row = [
          first ? pass.name : '',
          first ? sc.id : '',
          key,
          fmt(metric.value),
          fmt(sc.distribution.metrics[key]?.value),
          sc.ratio[key] === null ? '—' : `${fmt(sc.ratio[key])}x`,
          sc.verdict[key] ?? '',
        ];
        if (withS3) {
          const r = sc.s3?.ratio[key];
          row.push(sc.s3 ? fmt(sc.s3.result.metrics[key]?.value) : '', !sc.s3 ? '' : r === null || r === undefined ? '—' : `${fmt(r)}x`);
        }
        rows.push(row);
        first = false;
      }
      const runs: [string, RegistryResult][] = [
        ['ours', sc.ours],
        ['distribution', sc.distribution],
      ];
      if (sc.s3) runs.push([S3_LABEL, sc.s3.result]);
      for (const [kind, res] of runs) {
        for (const t of res.truncated) notes.push(`  ${pass.name}/${sc.id} on ${kind}: truncated by the time cap: ${t}`);
        const client = res.metrics[CLIENT_CPU]?.value ?? 0;
        const other = res.metrics[OTHER_CPU]?.value ?? 0;
        if (other >= BUSY_MACHINE) {
          notes.push(`  ${pass.name}/${sc.id} on ${kind}: the rest of the machine used ${fmt(other)}% of a core meanwhile: figures are disturbed`);
        }
        if (client >= CLIENT_BOUND) {
          notes.push(`  ${pass.name}/${sc.id} on ${kind}: client-bound (client CPU ${fmt(client)}% of a core): its rates and latencies say more about the machine than the server; compare the server's CPU figures`);
        }
        if (res.store && res.wallSeconds > 0) {
          notes.push(
            `  ${pass.name}/${sc.id} on ${kind}: the RGW daemons used ${fmt((100 * res.store.cpuSeconds) / res.wallSeconds)}% of a core ` +
              `(${fmt(res.store.cpuSeconds)} CPU s; RSS ${fmt(res.store.rssMiB)} MiB after it)`,
          );
        }
      }
      const pages = Object.keys(sc.ours.metrics).find((k) => k.startsWith('pages per listing'));
      if (pages && sc.ours.metrics[pages]!.value !== sc.distribution.metrics[pages]?.value) {
        notes.push(
          `  ${pass.name}/${sc.id}: pages per listing differ (ours ${fmt(sc.ours.metrics[pages]!.value)}, distribution ${fmt(sc.distribution.metrics[pages]?.value)}): ` +
            'a registry that ignores ?n= answers a whole listing in one request; compare page latency',
        );
      }
    }
  }
  out.push(table(rows, new Set(withS3 ? [3, 4, 5, 7, 8] : [3, 4, 5])));
  if (notes.length > 0) out.push('', 'Notes:', ...notes);
  const losses = losingFigures(result);
  out.push('', losses.length > 0 ? `Figures where ours is worse (${losses.length}):` : 'No figure where ours is worse.', ...losses.map((l) => `  ${l}`));
  out.push('', ...renderDeploy(result.deploy));
  return out.join('\n');
}

export function losingFigures(result: BenchResult): string[] {
  const out: string[] = [];
  for (const pass of Object.values(result.passes)) {
    for (const sc of Object.values(pass.scenarios)) {
      for (const [key, v] of Object.entries(sc.verdict)) {
        if (v === 'worse') out.push(`${pass.name}/${sc.id}: ${key} (${fmt(sc.ratio[key])}x)`);
      }
    }
  }
  return out;
}

/** Writes `<dir>/<ISO timestamp>-<git short sha>.json` (colons in the time replaced by `-`). */
export async function writeResult(dir: string, result: BenchResult, startedAt: Date, sha: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const file = join(dir, `${stamp}-${sha}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/** Seconds as a stopwatch shows them: 0.00 s, 9.16 s, 19.7 s, 123 s. */
function secs(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '— s';
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} s`;
}
const pct = (v: number) => `${Math.round(100 * v)}%`;

/** A remote command as a person reads it: `docker-compose -p <project> -f <dir>/compose.yaml` is implied. */
function shortCommand(c: string): string {
  return c.replace(/ -p <project> -f <dir>\/compose\.yaml/, '');
}

function slowest(r: DeployRun, n: number, except?: string): string {
  return r.steps
    .filter((s) => s.id !== except)
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, n)
    .map((s) => `${s.id} ${secs(s.seconds)}`)
    .join(', ');
}

/** The deploy timing: one line when it did not run; else the two runs step by step and the targets. */
export function renderDeploy(d: DeployInfo | undefined): string[] {
  if (!d) return ['Deploy timing: not in this result.'];
  if (!d.ran) return [d.error ? `Deploy timing FAILED: ${d.error}` : `Deploy timing skipped: ${d.skipped ?? 'not run'}`];
  const first = d.first!;
  const rerun = d.rerun!;
  const out: string[] = [];
  out.push(`Deploy timing: ${d.setup ?? 'registry-setup deploy to this machine'}.`);
  out.push(
    `Not timed: Docker installation (already installed: the docker step is a no-op) and base-image pulls (stand-in images, ` +
      `prepared beforehand in ${secs(d.setupSeconds)}). ` +
      (d.build?.cache === 'cold'
        ? `The image build is cold: the image (${d.image}) has a tag and version label of its own, new to the build cache.`
        : 'The image build MAY HAVE HIT THE BUILD CACHE (see the warning below).'),
  );
  const ids = [...new Set([...first.steps.map((s) => s.id), ...rerun.steps.map((s) => s.id)])];
  const cell = (r: DeployRun, id: string) => {
    const steps = r.steps.filter((s) => s.id === id);
    if (steps.length === 0) return '';
    return `${secs(steps.reduce((t, s) => t + s.seconds, 0))}  ${steps.map((s) => s.status).join('+')}`;
  };
  const rows: string[][] = [['step', 'first deploy', 'unchanged re-run']];
  for (const id of ids) rows.push([id, cell(first, id), cell(rerun, id)]);
  rows.push(['(outside steps: start-up, settings, exit)', secs(first.outsideStepsSeconds), secs(rerun.outsideStepsSeconds)]);
  rows.push(['total (CLI wall time)', secs(first.wallSeconds), secs(rerun.wallSeconds)]);
  out.push(table(rows, new Set()).replace(/^/gm, '  '));
  const b = d.build;
  const buildStep = first.steps.find((s) => s.id === BUILD_STEP);
  out.push(
    `  first deploy: ${secs(first.wallSeconds)}; the image build (step ${BUILD_STEP}: ${buildStep?.name ?? '?'}) ${secs(b?.seconds)} = ${pct(b?.share ?? 0)} of it` +
      `${b?.composeBuildSeconds !== undefined ? ` (compose build alone ${secs(b.composeBuildSeconds)} = ${pct(b.composeBuildShare ?? 0)})` : ''}; ` +
      `everything else ${secs(first.wallSeconds - (b?.seconds ?? 0))} (slowest other steps: ${slowest(first, 3, BUILD_STEP)}; outside steps ${secs(first.outsideStepsSeconds)})`,
  );
  out.push(
    `  unchanged re-run: ${secs(rerun.wallSeconds)}, target < ${d.rerunTargetSeconds} s: ${d.rerunPass ? 'PASS' : 'MISS'} ` +
      `(slowest steps: ${slowest(rerun, 3)}; outside steps ${secs(rerun.outsideStepsSeconds)})${rerun.changed ? '; it reported changes' : ''}`,
  );
  out.push(
    d.doneTwice.length === 0
      ? '  done twice: none (no step has status done in both the first deploy and the re-run)'
      : `  DONE TWICE: ${d.doneTwice.join(', ')} (status done in the first deploy and again in the unchanged re-run)`,
  );
  for (const r of d.repeatedSteps) out.push(`  step run more than once in one deploy: ${r}`);
  for (const c of d.repeatedCommands) out.push(`  first deploy ran the same state-changing command more than once: ${shortCommand(c)}`);
  const slow = first.commands.filter((c) => c.seconds >= 1).sort((x, y) => y.seconds - x.seconds).slice(0, 4);
  if (slow.length > 0) out.push(`  slowest remote commands of the first deploy: ${slow.map((c) => `${secs(c.seconds)} ${shortCommand(c.command)}`).join('; ')}`);
  const slowRe = rerun.commands.filter((c) => c.seconds >= 0.5).sort((x, y) => y.seconds - x.seconds).slice(0, 3);
  if (slowRe.length > 0) out.push(`  slowest remote commands of the re-run (${rerun.commands.length} in all): ${slowRe.map((c) => `${secs(c.seconds)} ${shortCommand(c.command)}`).join('; ')}`);
  const cmdStats = (r: DeployRun) => {
    const t = r.commands.map((c) => c.seconds).sort((x, y) => x - y);
    return t.length === 0 ? 'not logged' : `${t.length}, ${secs(t.reduce((a, x) => a + x, 0))} summed, median ${secs(t[Math.floor(t.length / 2)])}`;
  };
  // Summed: the preflight's probes overlap, so the sum can exceed the wall time.
  out.push(`  remote commands (first deploy / re-run): ${cmdStats(first)} / ${cmdStats(rerun)}`);
  if (d.idleBusyCores !== undefined) {
    const disturbed = d.idleBusyCores >= BUSY_MACHINE / 100;
    out.push(
      `  machine: ${fmt(d.idleBusyCores)} of a core busy right before the first deploy${disturbed ? ' (BUSY: other work ran meanwhile; the times are too long)' : ' (quiet)'}; ` +
        `busy during the runs (the deploy's own work included): ${fmt(first.machineBusyCores)} / ${fmt(rerun.machineBusyCores)} cores`,
    );
  }
  if (d.teardownSeconds !== undefined) out.push(`  teardown (destroy --yes, then the bed's cleanup; untimed): ${secs(d.teardownSeconds)}`);
  for (const w of d.warnings) out.push(`  warning: ${w}`);
  return out;
}
