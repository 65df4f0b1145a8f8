// What deploy works with: its options, its result, and the state of one host while it runs
// (src/deploy/deploy.ts holds the flow).
import type { RemoteHost } from '../remote/index.js';
import type { ComposeTarget, PayloadFile, PreflightReport, RenderedDeployment } from '../provision/index.js';
import type { DeploySettings } from '../settings/settings.js';
import type { Output, StepStatus } from '../console/output.js';
import { Executor, type FileChange } from './executor.js';
import type { checkDomainResolution } from './host-facts.js';
import type { ContainerState } from './stack.js';

/** One host of a deployment: its connection, its settings (shared ones identical on all) and its output. */
export interface DeployTarget {
  host: RemoteHost;
  settings: DeploySettings;
  /** how output names the host (with several) */
  label: string;
  output: Output;
}

export interface DeployOptions {
  targets: DeployTarget[];
  version: string;
  /** the package's dist/registry/ (readRegistryPayload) */
  registryPayload: readonly PayloadFile[];
  /** a password the user gave (stdin or wizard); otherwise one is generated for a new user */
  password?: string;
  /** local files of `--tls custom` */
  customTls?: { cert: Buffer; key: Buffer };
  /** the S3 credentials file given with --s3-credentials, normalized (otherwise the hosts' copy is kept) */
  s3Credentials?: string;
  /** each mirror's upstream credentials, by prefix (readMirrorCredentialFiles) */
  mirrorCredentials?: ReadonlyMap<string, string>;
  /** mirror prefixes the hosts did not mirror before: a pushed repository under one is warned about */
  newMirrorPrefixes?: readonly string[];
  dryRun: boolean;
  /** the command's output: steps that concern all hosts at once */
  output: Output;
  /** a certificate the verify step trusts besides the system's (adopt: the old stack's, possibly self-signed) */
  verifyCa?: Buffer;
}

export type StepRecord = { id: string; status: StepStatus; detail?: string };

export interface HostDeployResult {
  host: string;
  target: string;
  dir: string;
  changed: boolean;
  steps: StepRecord[];
  files: FileChange[];
  verified?: { anonymous: number; authenticated: number; pushed: string };
}

export interface DeployResult {
  changed: boolean;
  /** the steps that concern all hosts at once (users, secrets, the Let's Encrypt certificate) */
  steps: StepRecord[];
  hosts: HostDeployResult[];
  /** set only when this run generated the first user's password (shown once) */
  generatedPassword?: string;
}

/** Everything deploy knows about one host while it runs. */
export class HostRun {
  readonly exec: Executor;
  readonly host: RemoteHost;
  readonly settings: DeploySettings;
  readonly output: Output;
  readonly result: HostDeployResult;
  facts!: PreflightReport;
  dns!: Awaited<ReturnType<typeof checkDomainResolution>>;
  compose: ComposeTarget['kind'] | null = null;
  cert = { present: true, due: false };
  rendered!: RenderedDeployment;
  changedFiles: FileChange[] = [];
  before: ContainerState[] = [];
  tlsChanged = false;
  registryRecreated = false;

  constructor(t: DeployTarget, dryRun: boolean) {
    this.host = t.host;
    this.settings = t.settings;
    this.output = t.output;
    this.exec = new Executor(t.host, dryRun);
    this.result = { host: t.label, target: t.settings.target, dir: t.settings.dir, changed: false, steps: [], files: [] };
  }

  get label(): string {
    return this.result.host;
  }

  get target(): ComposeTarget {
    return { kind: this.compose ?? 'v2', dir: this.settings.dir, project: this.settings.composeProject };
  }

  path(rel: string): string {
    return `${this.settings.dir.replace(/\/+$/, '')}/${rel}`;
  }

  async step(id: string, name: string, run: (progress: (text: string) => void) => Promise<{ status: StepStatus; detail?: string }>): Promise<void> {
    const r = await this.output.step(id, name, run);
    this.result.steps.push({ id, status: r.status, detail: r.detail });
    if (r.status === 'done' || r.status === 'planned') this.result.changed = true;
  }
}

/** A deploy that fails after writing a generated password carries it, so that it is not lost. */
export interface PasswordCarrier {
  generatedPassword?: { user: string; password: string };
}
