// The "with policy" pass: ours with an access policy of 50 repository globs naming 20 users
// (serve --htpasswd --access) against distribution 2.8 with the same htpasswd file, in the same
// run, on the requests a policy sits in front of most: small-blob HEAD and GET and manifest GET by
// tag, signed in. Each round runs both registries once per request kind (alternating who goes
// first); the report is the ratio ours/distribution in requests per second, its median over the
// rounds and the spread (lowest..highest), so a loaded machine shows as a wide spread.
import http from 'node:http';
import os from 'node:os';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryClient } from '../../src/client/registry-client.js';
import { writeHtpasswd } from '../helpers/htpasswd.js';
import { basicAuth } from '../helpers/net.js';
import { startDistribution, startOurRegistry, type RunningRegistry } from '../helpers/registries.js';

export const POLICY_RULES = 50;
export const POLICY_USERS = 20;
const CONCURRENCY = 8;
const REPO = 'team07/app';
const TAG = 'v1';
const USER = 'user07';
const PASSWORD = 'policy-bench-user07-pw';

export interface PolicyBenchResult {
  rules: number;
  users: number;
  rounds: number;
  requestsPerRun: number;
  concurrency: number;
  loadavgAtStart: number[];
  /** per request kind: requests/s of each registry per round, and ours/distribution */
  kinds: Record<string, { ours: number[]; distribution: number[]; ratios: number[]; medianRatio: number; minRatio: number; maxRatio: number }>;
}

export function policyText(): string {
  let out = 'repositories:\n';
  for (let i = 0; i < POLICY_RULES; i++) {
    const name = `team${String(i).padStart(2, '0')}`;
    out += `  "${name}/**":\n    policies:\n      - users: [user${String(i % (POLICY_USERS - 1)).padStart(2, '0')}]\n        actions: [read, create]\n    defaultPolicy: [read]\n`;
  }
  return `${out}adminPolicy:\n  users: [admin]\n  actions: [read, create, update, delete]\n`;
}

/** n requests, `concurrency` at a time over keep-alive connections; requests per second. */
async function drive(url: string, method: string, path: string, headers: Record<string, string>, n: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(new URL(path, url), { method, headers, agent, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${method} ${path} answered ${res.statusCode}`))));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end();
    });
  const worker = async () => {
    while (next < n) {
      next += 1;
      await one();
    }
  };
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
  return n / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export async function runPolicyBench(o: { quick: boolean; rounds: number; dir: string; progress: (line: string) => void }): Promise<PolicyBenchResult> {
  const requests = o.quick ? 200 : 3_000;
  const rounds = o.quick ? 1 : Math.max(3, o.rounds);
  const htpasswd = join(o.dir, 'policy-htpasswd');
  const access = join(o.dir, 'policy-access.yaml');
  const users = [{ user: 'admin', password: 'policy-bench-admin-pw' }, ...Array.from({ length: POLICY_USERS - 1 }, (_, i) => ({ user: `user${String(i).padStart(2, '0')}`, password: i === 7 ? PASSWORD : `policy-bench-pw-${i}` }))];
  o.progress(`policy: ${POLICY_USERS} users (bcrypt), ${POLICY_RULES} repository globs`);
  await writeHtpasswd(htpasswd, users);
  await writeFile(access, policyText());
  const loadavgAtStart = os.loadavg();
  const registries: RunningRegistry[] = [];
  try {
    registries.push(await startOurRegistry({ htpasswd, extraArgs: ['--access', access, '--no-access-log'] }));
    registries.push(await startDistribution({ htpasswd }));
    const headers = { Authorization: basicAuth(USER, PASSWORD) };
    // each registry has its own tiny image (the layer holds a timestamp): paths per registry
    const paths = new Map<RunningRegistry, Record<string, { method: string; path: string; accept?: string }>>();
    for (const r of registries) {
      const client = new RegistryClient({ baseUrl: r.url, user: 'admin', password: 'policy-bench-admin-pw' });
      const manifest = await client.pushAndPullTinyImage(REPO, TAG);
      const body = JSON.parse((await client.request('GET', `/v2/${REPO}/manifests/${manifest}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).body.toString()) as { layers: { digest: string }[] };
      const blob = body.layers[0]!.digest;
      paths.set(r, {
        'small-blob HEAD': { method: 'HEAD', path: `/v2/${REPO}/blobs/${blob}` },
        'small-blob GET': { method: 'GET', path: `/v2/${REPO}/blobs/${blob}` },
        'manifest GET by tag': { method: 'GET', path: `/v2/${REPO}/manifests/${TAG}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
    }
    const kinds: PolicyBenchResult['kinds'] = {};
    for (const kind of Object.keys(paths.get(registries[0]!)!)) {
      const rps = { ours: [] as number[], distribution: [] as number[] };
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? registries : [...registries].reverse();
        for (const r of order) {
          o.progress(`policy: ${kind} on ${r.kind}, round ${round + 1}/${rounds}`);
          const p = paths.get(r)![kind]!;
          const h = { ...headers, ...(p.accept ? { Accept: p.accept } : {}) };
          await drive(r.url, p.method, p.path, h, Math.min(50, requests)); // warm-up (bcrypt caches, connections)
          rps[r.kind].push(await drive(r.url, p.method, p.path, h, requests));
        }
      }
      const ratios = rps.ours.map((v, i) => v / rps.distribution[i]!);
      kinds[kind] = { ...rps, ratios, medianRatio: median(ratios), minRatio: Math.min(...ratios), maxRatio: Math.max(...ratios) };
    }
    return { rules: POLICY_RULES, users: POLICY_USERS, rounds, requestsPerRun: requests, concurrency: CONCURRENCY, loadavgAtStart, kinds };
  } catch (e) {
    if (e instanceof Error) e.message = `policy pass: ${e.message}\n${registries.map((r) => `${r.kind}:\n${r.logTail(15)}`).join('\n')}`;
    throw e;
  } finally {
    for (const r of registries) await r.stop().catch(() => undefined);
  }
}

export function renderPolicyReport(r: PolicyBenchResult): string {
  const lines = [`With policy (load average at start ${r.loadavgAtStart.map((l) => l.toFixed(1)).join(' ')}): ours (${r.rules} globs, ${r.users} users) vs distribution 2.8 (htpasswd), ${r.requestsPerRun} requests × ${r.rounds} round(s), ${r.concurrency} at a time; ratio = ours/dist in requests/s (target ≥ 3×)`];
  for (const [kind, k] of Object.entries(r.kinds)) {
    lines.push(`  ${kind.padEnd(20)} ours ${median(k.ours).toFixed(0).padStart(6)}/s  dist ${median(k.distribution).toFixed(0).padStart(6)}/s  ratio ${k.medianRatio.toFixed(2)}× (spread ${k.minRatio.toFixed(2)}..${k.maxRatio.toFixed(2)})`);
  }
  return lines.join('\n');
}
