// The waits of upgrade's gapless switch (the argv come from src/provision/gapless-plan.ts): a slot's
// health check, and nginx's old workers finishing their requests after a reload.
import type { Executor } from '../deploy/executor.js';
import { containerFor, listContainers } from '../deploy/stack.js';
import type { ComposeTarget } from '../provision/index.js';
import type { Argv } from '../provision/step.js';

/**
 * Runs a slot's own health check in its container until it passes, with a deadline; a container
 * that exits or restarts fails at once. The error names the check and ends with the slot's log tail.
 */
export async function waitSlotHealthy(exec: Executor, target: ComposeTarget, service: string, check: { health: Argv; logTail: Argv }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let state = 'not created';
  let lastCheck = '';
  for (;;) {
    const slot = containerFor(await listContainers(exec, target.project), service);
    state = slot ? slot.state : 'not created';
    if (slot?.state === 'running') {
      const r = await exec.run(check.health, { allowFailure: true, timeoutMs: 20_000 });
      if (r.code === 0) return;
      lastCheck = (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? '';
    }
    // exited, or crashing and being restarted: waiting longer changes nothing, its log says why
    if (slot && (slot.state === 'exited' || slot.state === 'dead' || slot.state === 'restarting')) break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const tail = await exec.run(check.logTail, { allowFailure: true });
  const logs = (tail.stdout + tail.stderr).trim();
  throw new Error(`the new registry (${service}) failed its health check (node registry.mjs healthcheck: ${state}${lastCheck ? `; ${lastCheck}` : ''}); its last log lines:\n${logs}`);
}

/** nginx's worker processes, by pid (`docker top`: works whatever the image has inside). */
export async function nginxWorkers(exec: Executor, containerId: string): Promise<Set<string>> {
  const r = await exec.run(['docker', 'top', containerId, '-o', 'pid,args'], { allowFailure: true });
  const pids = new Set<string>();
  if (r.code !== 0) return pids;
  for (const line of r.stdout.split('\n').slice(1)) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (m && /nginx: worker process/.test(m[2]!)) pids.add(m[1]!);
  }
  return pids;
}

/**
 * After a reload, waits until none of the workers from before it is left: each finishes its
 * requests to the previous slot first (nginx's graceful reload). Returns false at the deadline
 * (a long upload still running: the slot's own stop grace period covers it).
 */
export async function waitWorkersGone(exec: Executor, containerId: string, before: Set<string>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await nginxWorkers(exec, containerId);
    if (![...before].some((pid) => now.has(pid))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}
