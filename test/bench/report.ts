// Results: the JSON document written to bench/results/, and the table printed at the end, with
// the ratio ours/distribution for every figure and whether that ratio is better or worse for us.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kind } from './servers.js';
import type { Better, Metrics } from './scenarios.js';

export interface RegistryResult {
  metrics: Metrics;
  /** phases stopped by the time cap before their count */
  truncated: string[];
  wallSeconds: number;
  serverCpuSeconds: number;
  clientCpuSeconds: number;
  /** machine busy time that was neither the server's nor the client's (other processes, unattributed kernel work) */
  otherCpuSeconds: number;
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
  baselines: Baselines;
  passes: Record<string, PassResult>;
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

export function compare(id: string, title: string, results: Record<Kind, RegistryResult>): ScenarioResult {
  const ratio: Record<string, number | null> = {};
  const verdict: Record<string, string> = {};
  for (const [key, ours] of Object.entries(results.ours.metrics)) {
    const dist = results.distribution.metrics[key];
    const r = dist && dist.value !== 0 && Number.isFinite(dist.value) && Number.isFinite(ours.value) ? ours.value / dist.value : null;
    ratio[key] = r;
    verdict[key] = verdictOf(r, ours.better);
  }
  return { id, title, ours: results.ours, distribution: results.distribution, ratio, verdict };
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
  out.push(`registry benchmark: ours (dist/registry.mjs) vs CNCF distribution (${String(result.meta.distributionVersion ?? '?')})`);
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
  out.push('');
  out.push('ratio = ours/dist; "better"/"worse" is from our point of view (higher is better for rates, lower for ms, CPU and RSS); "even" = within ±3%.');
  const rows: string[][] = [['pass', 'scenario', 'figure', 'ours', 'distribution', 'ratio', 'verdict']];
  const notes: string[] = [];
  for (const pass of Object.values(result.passes)) {
    for (const sc of Object.values(pass.scenarios)) {
      let first = true;
      for (const [key, metric] of Object.entries(sc.ours.metrics)) {
        rows.push([
          first ? pass.name : '',
          first ? sc.id : '',
          key,
          fmt(metric.value),
          fmt(sc.distribution.metrics[key]?.value),
          sc.ratio[key] === null ? '—' : `${fmt(sc.ratio[key])}x`,
          sc.verdict[key] ?? '',
        ]);
        first = false;
      }
      for (const kind of ['ours', 'distribution'] as const) {
        for (const t of sc[kind].truncated) notes.push(`  ${pass.name}/${sc.id} on ${kind}: truncated by the time cap: ${t}`);
        const client = sc[kind].metrics[CLIENT_CPU]?.value ?? 0;
        const other = sc[kind].metrics[OTHER_CPU]?.value ?? 0;
        if (other >= BUSY_MACHINE) {
          notes.push(`  ${pass.name}/${sc.id} on ${kind}: the rest of the machine used ${fmt(other)}% of a core meanwhile: figures are disturbed`);
        }
        if (client >= CLIENT_BOUND) {
          notes.push(`  ${pass.name}/${sc.id} on ${kind}: client-bound (client CPU ${fmt(client)}% of a core): its rates and latencies say more about the machine than the server; compare the server's CPU figures`);
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
  out.push(table(rows, new Set([3, 4, 5])));
  if (notes.length > 0) out.push('', 'Notes:', ...notes);
  const losses = losingFigures(result);
  out.push('', losses.length > 0 ? `Figures where ours is worse (${losses.length}):` : 'No figure where ours is worse.', ...losses.map((l) => `  ${l}`));
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
