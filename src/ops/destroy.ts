// `destroy`: stop and remove what deploy set up, keep what cannot be recreated (image data,
// certificates, the ACME account) unless --purge. Safe to run again: each run says exactly what it
// removed and what it kept. What to remove and the commands are decided by the pure plan
// (src/provision/destroy-plan.ts); this module observes the host and runs the steps.
import type { Output } from '../console/output.js';
import { listContainers } from '../deploy/stack.js';
import {
  belongsTo,
  composeNetwork,
  decideDestroy,
  destroyCandidates,
  destroyComposeDownArgv,
  destroySteps,
  destroyTarget,
  DESTROYED_RECORD,
  imageRemovalDetail,
  leftoverRemovalCommands,
  renewUnits,
  type DestroyCommand,
  type DestroyItem,
  type DestroyPlan,
} from '../provision/destroy-plan.js';
import { ufwRuleComment } from '../provision/index.js';
import { detectCompose, NoDeploymentError, type HostSession } from './deployment.js';

export { DESTROYED_RECORD, firewallItems, GENERATED, PRECIOUS, renewUnits, unitPurpose, type DestroyItem, type DestroyPlan } from '../provision/destroy-plan.js';

export interface DestroyResult {
  removed: DestroyItem[];
  kept: DestroyItem[];
  purged: boolean;
  dryRun: boolean;
}

/**
 * Looks at the host. Without registry-setup.json, a directory that an earlier destroy left behind
 * still counts (so running destroy again is harmless, and --purge can follow later); a directory
 * with nothing of ours is NoDeploymentError.
 */
export async function planDestroy(s: HostSession, purge: boolean): Promise<DestroyPlan> {
  const record = s.record;
  const note = record ? null : await s.host.readFile(s.path(DESTROYED_RECORD), { sudo: true });
  const target = destroyTarget(
    s.dir,
    s.project,
    record ? { dataDir: record.settings.dataDir, storage: record.settings.storage, domain: record.settings.domain, version: record.registrySetupVersion } : undefined,
    note?.toString('utf8'),
  );
  const unitNames = renewUnits(s.project);
  const [present, containers, listed, du, imageCheck, firewallRules] = await Promise.all([
    s.exec.existing(destroyCandidates(target)),
    listContainers(s.exec, s.project),
    // systemd may know the units from elsewhere too (e.g. /lib/systemd/system)
    s.exec.run(['sh', '-c', 'command -v systemctl >/dev/null 2>&1 || exit 0; systemctl list-unit-files --no-legend --no-pager "$@" 2>/dev/null; exit 0', 'sh', ...unitNames], { allowFailure: true }),
    s.exec.run(['du', '-sb', '--', target.dataDir], { allowFailure: true, timeoutMs: 120_000 }),
    target.image ? s.exec.run(['docker', 'image', 'inspect', '--format', '{{.Id}}', target.image], { allowFailure: true }) : Promise.resolve({ code: 1 }),
    ourUfwRules(s),
  ]);
  const bytes = Number.parseInt(du.stdout, 10);
  const plan = decideDestroy(
    target,
    {
      present,
      containers,
      knownUnits: listed.stdout.split('\n').map((l) => l.split(/\s+/)[0] ?? ''),
      ...(du.code === 0 && Number.isFinite(bytes) ? { dataBytes: bytes } : {}),
      imagePresent: imageCheck.code === 0,
      firewallRules,
    },
    purge,
  );
  if (!plan) throw new NoDeploymentError(s.dir, s.hostName);
  return plan;
}

async function ourUfwRules(s: HostSession): Promise<string[]> {
  const status = await s.exec.run(['sh', '-c', 'command -v ufw >/dev/null 2>&1 || exit 0; ufw status numbered; exit 0'], { allowFailure: true });
  const comment = `# ${ufwRuleComment(s.project)}`;
  return status.stdout.split('\n').filter((l) => l.trimEnd().endsWith(comment)).map((l) => l.replace(/^\[\s*\d+\]\s*/, '').replace(/\s+/g, ' ').trim());
}

/** Carries out a plan's steps; every part tolerates what an earlier run already removed. */
export async function executeDestroy(s: HostSession, plan: DestroyPlan, purge: boolean, output: Output): Promise<DestroyResult> {
  const removed: DestroyItem[] = [];
  const exec = s.exec;
  const run = async (commands: readonly DestroyCommand[]) => {
    const results = [];
    for (const c of commands) results.push(await exec.run(c.argv, { allowFailure: c.allowFailure }));
    return results;
  };
  for (const step of destroySteps({ plan, project: s.project, purge, now: new Date() })) {
    await output.step(step.id, step.name, async () => {
      if (step.id === 'containers') {
        if (plan.composeFile) {
          try {
            await exec.run(destroyComposeDownArgv({ kind: await detectCompose(exec), dir: s.dir, project: s.project }));
          } catch (err) {
            // no compose (any more): remove by label below
            output.warn(`compose down failed (${(err as Error).message.split('\n')[0]}); removing the containers directly`);
          }
        }
        const left = (await listContainers(exec, s.project)).filter((c) => belongsTo(c.labels ?? {}, s.dir));
        const results = await run(leftoverRemovalCommands(left.map((c) => c.id), s.project));
        removed.push(...step.removes);
        const network = results.at(-1)!;
        if (plan.containers.length || network.code === 0) removed.push({ path: `network ${composeNetwork(s.project)}`, what: 'compose network' });
        return { status: step.status, detail: step.detail };
      }
      const results = await run(step.commands);
      if (step.id === 'image' && plan.image) {
        const outcome = imageRemovalDetail(results[0]!, plan.image);
        if (outcome.removed) removed.push(...step.removes);
        return { status: outcome.removed ? ('done' as const) : ('unchanged' as const), detail: outcome.detail };
      }
      for (const f of step.files ?? []) await s.host.upload(f.path, f.content, { mode: f.mode, sudo: true });
      removed.push(...step.removes);
      return { status: step.status, detail: step.detail };
    });
  }
  return { removed, kept: plan.keep, purged: purge, dryRun: false };
}
