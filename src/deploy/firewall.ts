import { ufwAllowArgv, ufwRuleComment, type UfwState } from '../provision/index.js';
import { COMPOSE_PROJECT } from '../host/contract.js';
import type { DeploySettings } from '../settings/settings.js';
import type { Executor } from './executor.js';

/** Allows the HTTP and HTTPS ports in an active ufw; says what it did (or why nothing). */
export async function openFirewall(exec: Executor, ufw: UfwState, settings: Pick<DeploySettings, 'httpPort' | 'httpsPort' | 'composeProject'>): Promise<{ status: 'unchanged' | 'planned' | 'done' | 'skipped'; detail: string }> {
  const ports = [settings.httpPort, settings.httpsPort];
  const list = `${ports.join(' and ')}/tcp`;
  if (!ufw.active) return { status: 'skipped', detail: `ufw is installed but not active; if you enable it, allow ${list} and SSH first` };
  const project = settings.composeProject ?? COMPOSE_PROJECT;
  const allow = ufwAllowArgv(ufw, ports, project);
  if (allow.length === 0) return { status: 'unchanged', detail: `ufw is active and already allows ${list}` };
  const opened = allow.map((argv) => argv[2]).join(' and ');
  if (exec.dryRun) return { status: 'planned', detail: `ufw is active: allow ${opened}` };
  for (const argv of allow) await exec.run(argv);
  return { status: 'done', detail: `ufw is active: allowed ${opened} (rules commented "${ufwRuleComment(project)}"; destroy removes them)` };
}
