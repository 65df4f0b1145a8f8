// Docker on a host that lacks it: which source it comes from (Docker's apt repository or the
// release's own packages) is decided from facts read on the host before anything changes.
import {
  aptGetArgv,
  aptPolicyArgv,
  distributionDockerInstallSteps,
  distributionDockerPackages,
  dockerAptRepoUrl,
  dockerDetectCommands,
  dockerInstallSteps,
  dockerSuiteProbeArgv,
  packagesInstalledArgv,
  parseAptPolicy,
  parseDockerDetect,
  parseSuiteProbe,
  unknownReleaseWarning,
  PreflightError,
  type ComposeKind,
  type DockerSource,
  type PreflightReport,
  type Step,
  type SupportedOs,
} from '../provision/index.js';
import type { Executor } from './executor.js';

export interface DockerInstallOutcome {
  status: 'unchanged' | 'planned' | 'done';
  detail: string;
  /** the compose found after installing (undefined in a dry run or when nothing was installed) */
  compose?: ComposeKind;
}

const FROM = {
  docker: "from Docker's apt repository",
  distribution: "from the distribution's packages",
} as const;

/**
 * Installs Docker Engine and Compose where either is missing. `requested` undefined means Docker's
 * repository, falling back to the release's own packages only for a release this version does not
 * know and Docker's repository has no suite for.
 */
export async function ensureDocker(exec: Executor, facts: PreflightReport, requested: DockerSource | undefined, warn: (message: string) => void): Promise<DockerInstallOutcome> {
  const { os, arch } = facts;
  if (facts.docker.compose && facts.docker.daemon) {
    if (os && !os.known) warn(unknownReleaseWarning(os, 'Docker is already installed'));
    return { status: 'unchanged', detail: `Docker ${facts.docker.serverVersion}, compose ${facts.docker.compose}` };
  }
  if (!os || !arch) throw new Error('cannot install Docker: unknown OS or architecture');
  const choice = await chooseSource(exec, os, requested);
  if (choice.warning) warn(choice.warning);

  let steps: Step[];
  if (choice.source === 'docker') {
    steps = dockerInstallSteps(os, arch);
  } else {
    if ((await exec.run(packagesInstalledArgv(['docker-ce']), { allowFailure: true })).code === 0) {
      throw new PreflightError("Docker's own packages (docker-ce) are installed but Docker is not usable; the distribution's docker.io cannot be installed beside them: repair that installation, or deploy with --docker-source docker");
    }
    // the candidates must be today's: a fresh server's package lists may be empty or old
    if (!exec.dryRun) await exec.run(aptGetArgv('update'));
    steps = distributionDockerInstallSteps(await distributionPackages(exec, os));
  }
  let status: DockerInstallOutcome['status'] = 'unchanged';
  for (const step of steps) {
    const s = await exec.runStep(step);
    if (s !== 'unchanged') status = s;
  }
  if (exec.dryRun) return { status, detail: FROM[choice.source] };
  const after = parseDockerDetect(await exec.probe(dockerDetectCommands()));
  if (!after.compose) throw new Error(`Docker was installed ${FROM[choice.source]} but no usable Compose answers (docker compose version / docker-compose version)${after.composeNote ? `: ${after.composeNote}` : ''}`);
  return { status, detail: `${FROM[choice.source]}, compose ${after.compose}`, compose: after.compose };
}

async function distributionPackages(exec: Executor, os: SupportedOs): Promise<string[]> {
  const policy = await exec.run(aptPolicyArgv(), { allowFailure: true });
  const decided = distributionDockerPackages(parseAptPolicy(policy.stdout), os.prettyName);
  if ('problem' in decided) throw new PreflightError(`--docker-source distribution: ${decided.problem}; deploy with --docker-source docker (Docker's apt repository) instead`);
  return decided.packages;
}

async function chooseSource(exec: Executor, os: SupportedOs, requested: DockerSource | undefined): Promise<{ source: DockerSource; warning?: string }> {
  if (requested === 'distribution') return { source: 'distribution' };
  if (os.known) return { source: 'docker' };

  // A release this version does not know: whichever source can serve it, checked read-only.
  const suiteUrl = `${dockerAptRepoUrl(os)}/dists/${os.codename}/`;
  const suite = parseSuiteProbe(await exec.run(dockerSuiteProbeArgv(os), { allowFailure: true, timeoutMs: 60_000 }));
  if (suite.state === 'present') return { source: 'docker', warning: unknownReleaseWarning(os, `Docker's repository has a suite for ${os.codename}`) };
  const repoWhy = suite.state === 'absent' ? `Docker's repository has no suite for ${os.codename} (${suiteUrl}: HTTP ${suite.status})` : `Docker's repository could not be asked about ${os.codename} (${suite.reason})`;
  if (requested === 'docker') throw new PreflightError(`${repoWhy}; deploy with --docker-source distribution to use ${os.prettyName}'s own packages`);
  const policy = await exec.run(aptPolicyArgv(), { allowFailure: true });
  const decided = distributionDockerPackages(parseAptPolicy(policy.stdout), os.prettyName);
  if ('problem' in decided) {
    throw new PreflightError(`${os.prettyName} is newer than the releases registry-setup knows, ${repoWhy}, and ${decided.problem}: install Docker Engine and Compose v2 yourself, then deploy again`);
  }
  return { source: 'distribution', warning: unknownReleaseWarning(os, `${repoWhy}; installing its own ${decided.packages.join(', ')} instead`) };
}
