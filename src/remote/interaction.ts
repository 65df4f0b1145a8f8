// The questions src/remote may need to ask a person, as callbacks: the CLI decides how (prompts,
// --yes, refusing when there is no terminal). See prompts.ts for the terminal implementation.
import type { ConfirmNewHostKey } from './host-key.js';

export type SecretRequest =
  /** an encrypted private key file */
  | { kind: 'passphrase'; message: string; keyPath: string; attempt: number }
  /** SSH password authentication */
  | { kind: 'password'; message: string; user: string; host: string; attempt: number }
  /** one prompt of keyboard-interactive authentication (echo: the server says the answer may be shown) */
  | { kind: 'keyboard-interactive'; message: string; user: string; host: string; echo: boolean; attempt: number }
  /** sudo on the remote host, asked once per connection (again only after a wrong one) */
  | { kind: 'sudo'; message: string; user: string; host: string; attempt: number };

/**
 * Returns the secret, or undefined to give up on that method. Must never echo the answer.
 * `attempt` starts at 1 and grows when the previous answer was wrong.
 */
export type AskSecret = (request: SecretRequest) => Promise<string | undefined>;

export interface Interaction {
  /** asked about a host key not yet in known_hosts; absent → such keys are refused */
  confirmNewHostKey?: ConfirmNewHostKey;
  /** absent (non-interactive) → no passphrase/password/keyboard-interactive/sudo password */
  askSecret?: AskSecret;
}
