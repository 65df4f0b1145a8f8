// The terminal implementation of Interaction for the CLI: @inquirer prompts on stderr, --yes for
// host keys, and clear refusals when there is no terminal. Answers are never echoed.
import { confirm, password } from '@inquirer/prompts';
import { HostKeyNotTrustedError } from './errors.js';
import type { ConfirmNewHostKey } from './host-key.js';
import type { AskSecret, Interaction } from './interaction.js';
import { shellQuote } from './quote.js';

export interface TerminalInteractionOptions {
  /** --yes: accept unknown host keys without asking (a warning is still printed) */
  assumeYes?: boolean;
  /** default: stdin and stderr are both terminals */
  interactive?: boolean;
  /** where prompts and warnings go; default process.stderr */
  output?: NodeJS.WritableStream;
  /** shown in the ssh-keyscan hint; default ~/.ssh/known_hosts */
  knownHostsPath?: string;
}

/** `ssh-keyscan` for a known_hosts name (`host` or `[host]:port`) and key type. */
export function keyscanCommand(name: string, keyType: string, knownHostsPath = '~/.ssh/known_hosts'): string {
  const m = /^\[(.*)\]:(\d+)$/.exec(name);
  const host = m ? m[1]! : name;
  const port = m ? ` -p ${m[2]}` : '';
  const t = keyType === 'ssh-ed25519' ? 'ed25519' : keyType.startsWith('ecdsa-') ? 'ecdsa' : keyType === 'ssh-rsa' ? 'rsa' : keyType;
  const file = knownHostsPath.startsWith('~/') ? `~/${shellQuote(knownHostsPath.slice(2))}` : shellQuote(knownHostsPath);
  return `ssh-keyscan${port} -t ${t} ${shellQuote(host)} >> ${file}`;
}

/** Refuses unknown host keys, explaining how to proceed without a terminal. */
export function refuseUnknownHostKeys(knownHostsPath?: string): ConfirmNewHostKey {
  return async (name, fingerprint, keyType) => {
    throw new HostKeyNotTrustedError(
      `The host key of ${name} is not known yet (${keyType} ${fingerprint}) and there is no terminal to confirm it: ` +
        `rerun with --yes to accept it, or add it first with: ${keyscanCommand(name, keyType, knownHostsPath)} ` +
        `(then check that ssh-keygen -lf shows the same fingerprint).`,
      name,
      fingerprint,
    );
  };
}

export function terminalInteraction(o: TerminalInteractionOptions = {}): Interaction {
  const output = o.output ?? process.stderr;
  const interactive = o.interactive ?? (process.stdin.isTTY === true && process.stderr.isTTY === true);
  const context = { output };

  let confirmNewHostKey: ConfirmNewHostKey;
  if (o.assumeYes) {
    confirmNewHostKey = async (name, fingerprint, keyType) => {
      output.write(`Warning: permanently adding ${name} (${keyType} ${fingerprint}) to the list of known hosts (--yes).\n`);
      return true;
    };
  } else if (interactive) {
    confirmNewHostKey = (name, fingerprint, keyType) =>
      confirm(
        {
          message: `The authenticity of host ${name} can't be established.\n  ${keyType} key fingerprint is ${fingerprint}.\n  Trust it and add it to known_hosts?`,
          default: false,
        },
        context,
      );
  } else {
    confirmNewHostKey = refuseUnknownHostKeys(o.knownHostsPath);
  }

  const askSecret: AskSecret = (req) => password({ message: req.attempt > 1 ? `(try ${req.attempt}) ${req.message}` : req.message, mask: false }, context);

  return interactive ? { confirmNewHostKey, askSecret } : { confirmNewHostKey };
}
