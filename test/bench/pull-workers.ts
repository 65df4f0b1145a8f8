// Big pulls the way `docker pull` makes them: several layers at once (dockerd's
// max-concurrent-downloads is 3), each by a thread of its own, as its Go client uses every core.
// One Node thread decrypting TLS and hashing every byte tops out near 360 MiB/s here (2.8 s of CPU
// per GiB), which is why the one-stream figure measures the client more than the stack.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { BodyFetcher } from './body-fetcher.js';
import { BenchError } from './client.js';

// This file runs as TypeScript through tsx, which a worker thread does not inherit: the worker
// registers tsx's loader first, then imports this module.
const WORKER_SOURCE = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); });`;

export interface PullJob {
  path: string;
  digest: string;
  size: number;
}

interface WorkerInput {
  label: string;
  url: string;
  ca: Buffer;
  authorization: string;
  jobs: PullJob[];
}

type WorkerOutput = { bytes: number } | { error: string };

/**
 * Runs `jobs` on `streams` threads (job i on thread i mod streams), each over one keep-alive TLS
 * connection, every body's size and sha256 checked; resolves with the bytes pulled.
 */
export async function pullInThreads(target: Omit<WorkerInput, 'jobs'>, jobs: PullJob[], streams: number): Promise<number> {
  const shares = Array.from({ length: streams }, (_, t) => jobs.filter((_, i) => i % streams === t)).filter((s) => s.length > 0);
  const results = await Promise.all(
    shares.map(
      (share) =>
        new Promise<number>((resolve, reject) => {
          // the credentials travel in memory (workerData), never in an argument
          const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ...target, jobs: share } satisfies WorkerInput });
          let settled = false;
          worker.once('message', (out: WorkerOutput) => {
            settled = true;
            if ('error' in out) reject(new BenchError(out.error));
            else resolve(out.bytes);
          });
          worker.once('error', (err) => {
            settled = true;
            reject(err);
          });
          worker.once('exit', (code) => {
            if (!settled) reject(new BenchError(`${target.label}: a pull thread exited with code ${code} before it answered`));
          });
        }),
    ),
  );
  return results.reduce((a, b) => a + b, 0);
}

async function workerMain(input: WorkerInput): Promise<WorkerOutput> {
  const fetcher = new BodyFetcher(input.label, input.url, { authorization: input.authorization }, 120_000, Buffer.from(input.ca));
  try {
    let bytes = 0;
    for (const job of input.jobs) {
      const r = await fetcher.get(job.path, 200);
      if (r.status !== 200) return { error: `${input.label}: GET ${job.path}: HTTP ${r.status}${r.errorText ? `: ${r.errorText.slice(0, 500)}` : ''}` };
      if (r.bytes !== job.size) return { error: `${input.label}: GET ${job.path}: ${r.bytes} bytes, expected ${job.size}` };
      if (r.digest !== job.digest) return { error: `${input.label}: GET ${job.path}: sha256 of the body is ${r.digest}, expected ${job.digest}` };
      bytes += r.bytes;
    }
    return { bytes };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    fetcher.close();
  }
}

if (!isMainThread && parentPort && (workerData as WorkerInput | undefined)?.jobs) {
  const port = parentPort;
  void workerMain(workerData as WorkerInput).then((out) => port.postMessage(out));
}
