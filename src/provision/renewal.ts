// Automatic certificate renewal on the host: a systemd timer running the renew command of the
// registry image (no Node.js on the host), reloading nginx only after a renewal.
import { COMPOSE_PROJECT, HOST_LAYOUT, RENEW_PATHS, RENEW_SERVICE, IMAGE_COMMANDS } from '../host/contract.js';
import { renderTemplate } from '../templates/render.js';
import { formatRenewalSlot, timerCalendar, type RenewalSlot } from '../acme/schedule.js';
import type { DeploySettings } from '../settings/settings.js';
import { shellJoin } from '../remote/quote.js';
import { composeArgv, nginxReloadArgv, type ComposeTarget } from './docker.js';
import type { FileSpec } from './step.js';

export interface RenewalUnitOptions {
  target: ComposeTarget;
  directoryUrl: string;
  /** an uploaded CA file for the ACME server's own HTTPS, as seen on the host */
  acmeCaFile?: string;
  /** this host's turn among several hosts behind the same name (each renews its own certificate) */
  slot?: RenewalSlot;
}

/** `registry-setup-renew`, or with the project name for a non-default compose project. */
export function renewalUnitName(project = COMPOSE_PROJECT): string {
  return project === COMPOSE_PROJECT ? 'registry-setup-renew' : `registry-setup-renew-${project}`;
}

export const SYSTEMD_DIR = '/etc/systemd/system';

/**
 * The renew command, run in a throw-away container of compose.yaml's renew service (its user,
 * capabilities and mounts are there; `compose run` of compose v1 cannot add capabilities).
 */
export function renewArgv(settings: DeploySettings, o: RenewalUnitOptions): string[] {
  const p = RENEW_PATHS;
  return composeArgv(
    o.target,
    'run', '--rm', '-T', '--no-deps',
    RENEW_SERVICE, IMAGE_COMMANDS.renew,
    '--state-dir', p.acmeDir, '--state-file', `${p.stateDir}/renewal.json`, '--tls-dir', p.tlsDir, '--webroot', p.webroot,
    '--domain', settings.domain,
    ...(settings.email ? ['--email', settings.email] : []),
    '--directory', o.directoryUrl,
    ...(o.acmeCaFile ? ['--ca-file', `${p.acmeDir}/ca.pem`] : []),
    // The challenge self-test goes to nginx over the compose network: a server often cannot reach
    // its own public address.
    '--check-via', 'nginx:8080',
    ...(o.slot && o.slot.count > 1 ? ['--slot', formatRenewalSlot(o.slot)] : []),
  );
}

export function renewalFiles(settings: DeploySettings, o: RenewalUnitOptions): FileSpec[] {
  const unit = renewalUnitName(o.target.project);
  const script = `${settings.dir.replace(/\/+$/, '')}/renew.sh`;
  return [
    {
      path: script,
      mode: 0o755,
      content: renderTemplate('renew.sh.tmpl', {
        unit,
        renewCommand: shellJoin(renewArgv(settings, o)),
        reloadCommand: shellJoin(nginxReloadArgv(o.target)),
        reloadMarker: shellJoin([`${settings.dir.replace(/\/+$/, '')}/${HOST_LAYOUT.reloadMarker}`]),
      }),
    },
    { path: `${SYSTEMD_DIR}/${unit}.service`, mode: 0o644, content: renderTemplate('renew.service.tmpl', { dir: settings.dir, script }) },
    { path: `${SYSTEMD_DIR}/${unit}.timer`, mode: 0o644, content: renderTemplate('renew.timer.tmpl', { dir: settings.dir, calendar: timerCalendar(o.slot) }) },
  ];
}

/** systemd is PID 1 (containers and some minimal hosts have none). */
export const SYSTEMD_PRESENT_ARGV = ['test', '-d', '/run/systemd/system'];

export function enableTimerArgv(project?: string): string[][] {
  return [
    ['systemctl', 'daemon-reload'],
    ['systemctl', 'enable', '--now', `${renewalUnitName(project)}.timer`],
  ];
}

/**
 * Takes the renewal out of a deployment whose certificate no longer comes from Let's Encrypt
 * (the timer would order one and replace the self-signed or custom certificate): stops and
 * removes the units (when there is systemd) and renew.sh. Run each with allowFailure.
 */
export function removeRenewalArgv(dir: string, project?: string): string[][] {
  const unit = renewalUnitName(project);
  return [
    ['systemctl', 'disable', '--now', `${unit}.timer`],
    ['rm', '-f', '--', `${SYSTEMD_DIR}/${unit}.timer`, `${SYSTEMD_DIR}/${unit}.service`, `${dir.replace(/\/+$/, '')}/renew.sh`],
    ['systemctl', 'daemon-reload'],
  ];
}
