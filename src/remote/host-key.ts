// Host key policy at connect time: known and matching → go on; recorded but different → always
// refuse, with the fix; unknown → ask (callback), record when accepted. Also orders the host key
// algorithms so that the server is asked first for a key type already recorded (as ssh does):
// otherwise a host known by its RSA key would present ed25519 and look "changed".
import { homedir } from 'node:os';
import { join } from 'node:path';
import { HostKeyChangedError, HostKeyNotTrustedError } from './errors.js';
import { appendKnownHost, checkHostKey, fingerprint, keyTypeOf, knownHostsName, knownKeyTypes, readKnownHosts } from './known-hosts.js';
import { shellQuote } from './quote.js';

export type ConfirmNewHostKey = (host: string, fingerprint: string, keyType: string) => Promise<boolean>;

export interface HostKeyOptions {
  /** the user's known_hosts: read, and where accepted keys are appended. Default ~/.ssh/known_hosts */
  knownHostsPath?: string;
  /** read-only extra files; default /etc/ssh/ssh_known_hosts when knownHostsPath is not given */
  globalKnownHostsPaths?: string[];
  /** asked about unknown keys; absent → unknown keys are refused */
  confirmNewHostKey?: ConfirmNewHostKey;
}

export interface HostKeyEvent {
  kind: 'known' | 'accepted';
  name: string;
  fingerprint: string;
  keyType: string;
}

interface Who {
  host: string;
  port: number;
  hostKeyAlias?: string;
}

export const DEFAULT_KNOWN_HOSTS = (): string => join(homedir(), '.ssh', 'known_hosts');

const DEFAULT_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;
export type HostKeyAlgorithm = (typeof DEFAULT_ALGOS)[number];

function algosForType(type: string): HostKeyAlgorithm[] {
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return (DEFAULT_ALGOS as readonly string[]).includes(type) ? [type as HostKeyAlgorithm] : [];
}

/** ssh2 `algorithms.serverHostKey`: the recorded key types first, then the rest of the defaults. */
export function preferredHostKeyAlgorithms(knownTypes: readonly string[]): HostKeyAlgorithm[] {
  const first = knownTypes.flatMap(algosForType);
  return [...new Set([...first, ...DEFAULT_ALGOS])];
}

function lookupName(who: Who): { host: string; port: number } {
  // ssh looks a HostKeyAlias up as it is, without [ ]:port
  return who.hostKeyAlias ? { host: who.hostKeyAlias, port: 22 } : { host: who.host, port: who.port };
}

export class HostKeyVerifier {
  readonly knownHostsPath: string;
  private readonly readPaths: string[];
  private readonly isDefaultPath: boolean;

  constructor(private readonly opts: HostKeyOptions = {}) {
    this.isDefaultPath = opts.knownHostsPath === undefined;
    this.knownHostsPath = opts.knownHostsPath ?? DEFAULT_KNOWN_HOSTS();
    const globals = opts.globalKnownHostsPaths ?? (this.isDefaultPath ? ['/etc/ssh/ssh_known_hosts'] : []);
    this.readPaths = [this.knownHostsPath, ...globals];
  }

  private async entries() {
    return (await Promise.all(this.readPaths.map((p) => readKnownHosts(p)))).flat();
  }

  /** Host key algorithms to offer when connecting to `who`. */
  async algorithmsFor(who: Who): Promise<HostKeyAlgorithm[]> {
    const { host, port } = lookupName(who);
    return preferredHostKeyAlgorithms(knownKeyTypes(await this.entries(), host, port));
  }

  /** The `ssh-keygen -R` command that removes the recorded key(s) of `who`. */
  removeCommand(who: Who): string {
    const { host, port } = lookupName(who);
    const file = this.isDefaultPath ? '' : ` -f ${shellQuote(this.knownHostsPath)}`;
    const name = knownHostsName(host, port);
    return `ssh-keygen${file} -R ${port === 22 ? shellQuote(name) : `"${name}"`}`;
  }

  /**
   * Resolves when the key is trusted (recorded now if it was new); throws HostKeyChangedError or
   * HostKeyNotTrustedError otherwise. Re-reads the files every time: a jump host accepted a moment
   * ago may be the same machine as the target.
   */
  async verify(who: Who, key: Buffer): Promise<HostKeyEvent> {
    const { host, port } = lookupName(who);
    const name = knownHostsName(host, port);
    const fp = fingerprint(key);
    const keyType = keyTypeOf(key);
    const result = checkHostKey(await this.entries(), host, port, key);
    switch (result.status) {
      case 'known':
        return { kind: 'known', name, fingerprint: fp, keyType };
      case 'revoked':
        throw new HostKeyChangedError(
          `The ${keyType} host key of ${name} (${fp}) is marked @revoked in known_hosts: refusing to connect.`,
          name,
          fp,
        );
      case 'changed':
        throw new HostKeyChangedError(
          `WARNING: the host key of ${name} has CHANGED (it now offers ${keyType} ${fp}, which is not the ` +
            `${result.knownTypes.join('/')} key recorded in ${this.knownHostsPath}); refusing to connect, this could be ` +
            `an attack. If the change is expected (e.g. the server was reinstalled), run: ${this.removeCommand(who)}`,
          name,
          fp,
        );
      case 'unknown': {
        const ask = this.opts.confirmNewHostKey;
        if (!ask) {
          throw new HostKeyNotTrustedError(`The host key of ${name} (${keyType} ${fp}) is not in ${this.knownHostsPath}; not connecting.`, name, fp);
        }
        const ok = await ask(name, fp, keyType);
        if (!ok) throw new HostKeyNotTrustedError(`The host key of ${name} (${keyType} ${fp}) was not accepted; not connecting.`, name, fp);
        await appendKnownHost(this.knownHostsPath, host, port, key);
        return { kind: 'accepted', name, fingerprint: fp, keyType };
      }
    }
  }
}
