// Upgrade's switch to the new registry without a gap, as kamal-proxy does for apps: the new image
// starts in the second slot (registry-next) beside the serving registry; once its health check
// passes nginx is pointed at it by a graceful reload (old workers finish their requests on the old
// registry); the `registry` service is then recreated on the new image (the old process finishes
// what it still has on SIGTERM), nginx is pointed back at it, and the second slot removed. Uploads
// in progress continue on whichever process gets their next request: their bytes are on disk or in
// the bucket, their URL is signed with the upload secret both share. A new registry that fails its
// health check is removed and nginx keeps (or gets back) the configuration it had.
import type { Output } from '../console/output.js';
import { containerFor } from '../deploy/stack.js';
import { HOST_LAYOUT, NEXT_REGISTRY_SERVICE } from '../host/contract.js';
import { composeArgv, type ComposeTarget, type FileSpec } from '../provision/index.js';
import { SLOT_STOP_SECONDS, type GaplessPlan, type NginxSwitch } from '../provision/gapless-plan.js';
import type { Deployment } from './deployment.js';
import { nginxWorkers, waitSlotHealthy, waitWorkersGone } from './gapless-switch.js';

/** How long a slot may take to pass its health check. */
const HEALTHY_WITHIN_MS = 120_000;
/** How long nginx's old workers get to finish their requests after a reload before the slot they use is stopped. */
const DRAIN_MS = 30_000;

export interface GaplessSwitchOptions {
  plan: GaplessPlan;
  target: ComposeTarget;
  /** nginx.conf proxying to this service (the deployment's settings otherwise) */
  nginxConf(upstream: string): FileSpec;
  /** what compose.yaml and nginx.conf held before this upgrade wrote them (null: unchanged) */
  restore: { compose: Buffer | null; nginxConf: Buffer | null };
  output: Output;
}

/** Runs the plan's switch; throws with the failed health check, its log tail and what the rollback did. */
export async function switchGapless(d: Deployment, o: GaplessSwitchOptions): Promise<void> {
  const { exec } = d;
  const { plan, target } = o;
  const nginx = containerFor(await d.containers(), 'nginx');
  let nginxOnNext = false;

  const switchNginx = async (sw: NginxSwitch, file: FileSpec) => {
    await exec.applyFiles([file]);
    const workers = nginx ? await nginxWorkers(exec, nginx.id) : new Set<string>();
    for (const argv of sw.commands) await exec.run(argv);
    if (nginx && !(await waitWorkersGone(exec, nginx.id, workers, DRAIN_MS))) {
      o.output.warn(`nginx still finishes requests to the previous registry after ${DRAIN_MS / 1000} s; that registry gets ${SLOT_STOP_SECONDS} s more for them`);
    }
  };

  const rollBack = async (registryReplaced: boolean): Promise<string> => {
    try {
      if (o.restore.compose) await d.host.upload(d.path(HOST_LAYOUT.compose), o.restore.compose, { mode: 0o644, owner: '0', group: '0', sudo: true });
      if (registryReplaced) {
        // the previous image is still on the host: the registry service runs it again
        await exec.run(composeArgv(target, 'up', '-d', '--no-deps', '--force-recreate', 'registry'));
        await waitSlotHealthy(exec, target, 'registry', { health: plan.registryHealthcheck, logTail: plan.registryLogTail }, HEALTHY_WITHIN_MS);
      }
      if (nginxOnNext || o.restore.nginxConf) {
        const canonical = o.nginxConf('registry');
        await switchNginx(plan.toRegistry, o.restore.nginxConf ? { ...canonical, content: o.restore.nginxConf } : canonical);
      }
      for (const argv of plan.removeNext) await exec.run(argv);
      return `Rolled back: the registry runs ${d.record.registrySetupVersion} as before and nginx proxies to it as before (run registry-setup upgrade again once the cause is fixed).`;
    } catch (err) {
      return `Rolling back failed as well (${(err as Error).message.split('\n')[0]}); run registry-setup deploy to repair.`;
    }
  };

  try {
    for (const argv of plan.startNext) await exec.run(argv);
    await waitSlotHealthy(exec, target, NEXT_REGISTRY_SERVICE, { health: plan.nextHealthcheck, logTail: plan.nextLogTail }, HEALTHY_WITHIN_MS);
    nginxOnNext = true;
    await switchNginx(plan.toNext, o.nginxConf(NEXT_REGISTRY_SERVICE));
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await rollBack(false)}`);
  }
  try {
    for (const argv of plan.replaceRegistry) await exec.run(argv);
    await waitSlotHealthy(exec, target, 'registry', { health: plan.registryHealthcheck, logTail: plan.registryLogTail }, HEALTHY_WITHIN_MS);
    await switchNginx(plan.toRegistry, o.nginxConf('registry'));
    nginxOnNext = false;
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await rollBack(true)}`);
  }
  for (const argv of plan.removeNext) await exec.run(argv);
  for (const argv of plan.recreateNginx) await exec.run(argv);
}
