// `adopt <target>`: read the host (read-only), find the hand-built registry stack on it, and say
// what taking it over means. The facts are read once; a choice made after an ambiguity (a question
// on a terminal) only runs the pure discovery again.
import type { Executor } from '../deploy/executor.js';
import { AdoptAmbiguity, discoverStack, type AdoptChoices, type AdoptDiscovery } from './adopt-discover.js';
import { CERTBOT_ROOT, certbotCronArgvFor, gatherAdoptFacts, type AdoptFacts } from './adopt-facts.js';
import { adoptPlanSteps, parseTagLinks, sampleTags, tagLinksArgv, type TagDigest } from './adopt-plan.js';

export interface AdoptSurvey {
  facts: AdoptFacts;
  discovery: AdoptDiscovery;
  /** every tag in the data directory, and the ones adopt records and checks */
  tags: TagDigest[];
  sample: TagDigest[];
  plan: string[];
}

/** Asks which of the choices is meant (a terminal), or undefined to stop with the ambiguity's error. */
export type AskChoice = (ambiguity: AdoptAmbiguity) => Promise<string | undefined>;

const FLAG_CHOICE: Record<string, keyof AdoptChoices> = { '--container': 'container', '--domain': 'domain' };

/** Discovery with the choices given, asking for the missing ones when `ask` can (at most once per flag). */
export async function discoverWithChoices(facts: AdoptFacts, given: AdoptChoices, ask?: AskChoice): Promise<AdoptDiscovery> {
  const choices = { ...given };
  for (let attempt = 0; ; attempt++) {
    try {
      return discoverStack(facts, choices);
    } catch (e) {
      const key = e instanceof AdoptAmbiguity ? FLAG_CHOICE[e.flag] : undefined;
      if (!key || !ask || choices[key] !== undefined || attempt >= Object.keys(FLAG_CHOICE).length) throw e;
      const answer = await ask(e as AdoptAmbiguity);
      if (answer === undefined) throw e;
      choices[key] = answer;
    }
  }
}

/** Reads the host and plans; changes nothing. */
export async function surveyHost(exec: Executor, installDir: string, choices: AdoptChoices, ask?: AskChoice): Promise<AdoptSurvey> {
  const facts = await gatherAdoptFacts(exec);
  const discovery = await discoverWithChoices(facts, choices, ask);
  // certbot under another root (nginx's certificate path says where): its cron files beside it too
  const root = discovery.nginx?.certificate?.letsencrypt?.root;
  if (root && root !== CERTBOT_ROOT) {
    const r = await exec.run(certbotCronArgvFor(root), { allowFailure: true, timeoutMs: 60_000 });
    const found = r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
    discovery.certbot.cron = [...new Set([...discovery.certbot.cron, ...found])];
  }
  const data = discovery.registry.data.hostPath;
  const tags = parseTagLinks((await exec.run(tagLinksArgv(data), { timeoutMs: 10 * 60_000 })).stdout, data);
  const sample = sampleTags(tags);
  return { facts, discovery, tags, sample, plan: adoptPlanSteps(discovery, installDir, { total: tags.length, sampled: sample.length }) };
}
