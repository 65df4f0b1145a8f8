// The command-line options of the commands that talk to hosts: commander only. What they mean is
// read by src/session (connecting) and src/ops (finding the deployment).
import { Option, type Command } from 'commander';

export function addHostOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'settings file written by an earlier deploy (registry-setup.yaml)')
    .option('-i, --identity <file>', 'SSH private key to try first')
    .option('--dir <path>', 'install directory on the host (default /opt/registry-setup)')
    .option('--sudo-password-file <file>', "the login user's sudo password, for sudo that asks for one without a terminal (- reads it from stdin)")
    .option('-y, --yes', 'do not ask: accept defaults and new host keys (a changed host key is still refused)')
    .option('--json', 'print machine-readable JSON events instead of progress');
}

/** deploy's host options plus the hidden test-only compose project name (the day-2 commands). */
export function addDeploymentOptions(cmd: Command): Command {
  return addHostOptions(cmd).addOption(new Option('--compose-project <name>').hideHelp());
}
