// Upgrade's gapless switch, decided by pure code (src/ops/upgrade.ts observes, runs the argv in
// order and waits where the plan says). The new image starts in the second slot (registry-next)
// beside the running registry; nginx is switched to it by a graceful reload; the `registry`
// service is then recreated on the new image and nginx switched back, and the second slot removed.
// Everything else (status, logs, gc, users, renewal, deploy) only ever sees the `registry` service.
import { CONTAINER_PATHS, IMAGE_COMMANDS, NEXT_REGISTRY_PROFILE, NEXT_REGISTRY_SERVICE } from '../host/contract.js';
import { upgradeRestartPlan, type UpgradeRestartInput } from './deploy-plan.js';
import { composeArgv, nginxReloadArgv, registryHealthcheckArgv, type ComposeTarget } from './docker.js';
import type { Argv } from './step.js';

/** How long the stopping slot may finish its requests (compose.yaml's stop_grace_period is 40 s). */
export const SLOT_STOP_SECONDS = 40;

export type GaplessInput = UpgradeRestartInput;

/** One switch of nginx to a slot: nginx.conf naming it is written first, then these. */
export interface NginxSwitch {
  /** the service nginx proxies to afterwards */
  upstream: string;
  /** checks the written nginx.conf in the running nginx (resolves the slot's name), then reloads */
  commands: Argv[];
}

export interface GaplessPlan {
  needed: boolean;
  /** 1. the new image in the second slot; then `nextHealthcheck` must pass (rolled back if not) */
  startNext: Argv[];
  nextHealthcheck: Argv;
  /** the slot's last log lines, for the failure message */
  nextLogTail: Argv;
  /** 2. nginx to the second slot; the old nginx workers finish their requests on the old registry */
  toNext: NginxSwitch;
  /** 3. the registry service recreated on the new image (the old one finishes its requests on SIGTERM); then `registryHealthcheck` */
  replaceRegistry: Argv[];
  registryHealthcheck: Argv;
  registryLogTail: Argv;
  /** 4. nginx back to the registry service */
  toRegistry: NginxSwitch;
  /** 5. the second slot stopped (finishing its requests) and removed; also the rollback's cleanup */
  removeNext: Argv[];
  /** 6. nginx recreated only when its own service changed (not gapless: its ports are re-published) */
  recreateNginx: Argv[];
  /** nothing to restart: an nginx.conf change still needs a reload */
  reloadOnly: Argv[];
}

function nginxSwitch(target: ComposeTarget, upstream: string): NginxSwitch {
  return { upstream, commands: [composeArgv(target, 'exec', '-T', 'nginx', 'nginx', '-c', CONTAINER_PATHS.nginxConf, '-t', '-q'), nginxReloadArgv(target)] };
}

/**
 * Whether the registry is replaced at all is upgrade's usual decision (upgradeRestartPlan: new
 * image, compose.yaml, upload secret or build inputs changed, or the registry does not run); this
 * plan says how: beside the old one instead of in its place.
 */
export function gaplessUpgradePlan(i: GaplessInput): GaplessPlan {
  const { needed, reloadOnly } = upgradeRestartPlan(i);
  const t = i.target;
  const none = { needed, startNext: [], replaceRegistry: [], removeNext: [], recreateNginx: [], reloadOnly };
  const next = NEXT_REGISTRY_SERVICE;
  const nextArgv = nextSlotArgv(t);
  return {
    ...none,
    nextHealthcheck: nextArgv('exec', '-T', next, 'node', CONTAINER_PATHS.registryBundle, IMAGE_COMMANDS.healthcheck),
    nextLogTail: nextArgv('logs', '--no-color', '--tail', '15', next),
    registryHealthcheck: registryHealthcheckArgv(t),
    registryLogTail: composeArgv(t, 'logs', '--no-color', '--tail', '15', 'registry'),
    toNext: nginxSwitch(t, next),
    toRegistry: nginxSwitch(t, 'registry'),
    ...(needed
      ? {
          startNext: [nextArgv('up', '-d', '--no-deps', '--force-recreate', next)],
          replaceRegistry: [composeArgv(t, 'up', '-d', '--no-deps', '--force-recreate', '-t', String(SLOT_STOP_SECONDS), 'registry')],
          removeNext: removeNextArgv(t),
          recreateNginx: i.nginxServiceChanged ? [composeArgv(t, 'up', '-d', '--no-deps', 'nginx')] : [],
        }
      : {}),
  };
}

/** Compose argv for the second slot: its profile named, so no compose version treats it as disabled. */
function nextSlotArgv(target: ComposeTarget): (...args: string[]) => Argv {
  return (...args) => composeArgv(target, '--profile', NEXT_REGISTRY_PROFILE, ...args);
}

/** Stops the second slot, letting its requests finish, and removes it (harmless when it is not there). */
export function removeNextArgv(target: ComposeTarget): Argv[] {
  return [nextSlotArgv(target)('rm', '--stop', '--force', NEXT_REGISTRY_SERVICE)];
}
