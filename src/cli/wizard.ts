import { input, password, select } from '@inquirer/prompts';
import type { PartialSettings } from '../settings/resolve.js';
import { validateDomain, validateEmail, validateUser } from '../settings/resolve.js';
import type { TlsMode } from '../settings/settings.js';
import { MIN_PASSWORD_LENGTH } from '../users/credentials.js';

const context = { output: process.stderr };

/**
 * Asks for what flags, the config file and the host did not answer. Returns the answers and a
 * typed password (undefined means: generate one and show it once).
 */
export async function runWizard(known: PartialSettings, opts: { askPassword: boolean }): Promise<{ answers: PartialSettings; password?: string }> {
  const answers: PartialSettings = {};
  if (!known.domain) {
    answers.domain = await input({ message: 'Domain of the registry (e.g. registry.example.com):', validate: validateDomain }, context);
  }
  if (!known.tls) {
    answers.tls = await select<TlsMode>(
      {
        message: 'TLS certificate:',
        choices: [
          { name: "Let's Encrypt (the domain must point at this server, port 80 open)", value: 'letsencrypt' },
          { name: 'Self-signed (clients must trust it)', value: 'self-signed' },
          { name: 'My own certificate files (--cert/--key)', value: 'custom' },
        ],
        default: 'letsencrypt',
      },
      context,
    );
  }
  const tls = known.tls ?? answers.tls;
  if (tls === 'letsencrypt' && !known.email) {
    answers.email = await input({ message: "E-mail for Let's Encrypt (expiry and account notices):", validate: validateEmail }, context);
  }
  if (tls === 'custom') {
    if (!known.cert) answers.cert = await input({ message: 'Certificate chain file (PEM):', validate: (v) => (v ? true : 'required') }, context);
    if (!known.key) answers.key = await input({ message: 'Private key file (PEM):', validate: (v) => (v ? true : 'required') }, context);
  }
  if (!known.user) answers.user = await input({ message: 'First registry user:', default: 'admin', validate: validateUser }, context);
  let typed: string | undefined;
  if (opts.askPassword) {
    typed = await password(
      { message: 'Password for that user (leave empty to generate a strong one):', mask: '*', validate: (v) => (v === '' || [...v].length >= MIN_PASSWORD_LENGTH ? true : `at least ${MIN_PASSWORD_LENGTH} characters`) },
      context,
    );
    if (typed === '') typed = undefined;
  }
  return { answers, password: typed };
}
