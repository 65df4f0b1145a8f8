// The order in which we try to log in, as an ssh2 `authHandler` function: `none` (to learn what
// the server accepts), the ssh-agent, each identity file (asking for the passphrase of encrypted
// ones), then keyboard-interactive and password as a last resort, and only when we can ask.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, AuthenticationType, AuthHandlerMiddleware, KeyboardInteractiveCallback, ParsedKey, Prompt } from 'ssh2';
import type { AskSecret } from './interaction.js';

export interface AuthOptions {
  user: string;
  /** `user@host:port`, for prompts and messages */
  label: string;
  host: string;
  identityFiles: readonly string[];
  /** ssh-agent socket; undefined → none */
  agentSocket?: string;
  askSecret?: AskSecret;
  /** runs a user interaction with the connect timeout suspended */
  pause<T>(fn: () => Promise<T>): Promise<T>;
}

export interface AuthPlan {
  handler: AuthHandlerMiddleware;
  /** one line for "permission denied": what was tried, what the server accepts, and why keys were skipped */
  failureMessage(): string;
  /** an error thrown by a prompt (e.g. the user pressed Ctrl-C): it ended authentication */
  promptError(): Error | undefined;
}

const MAX_ATTEMPTS = 3;

function tilde(p: string): string {
  const home = homedir();
  return p.startsWith(`${home}/`) ? `~${p.slice(home.length)}` : p;
}

function isEncryptedKeyError(err: Error): boolean {
  return /passphrase|encrypted/i.test(err.message);
}

type Step = () => Promise<AnyAuthMethod | 'skip' | false>;

export function planAuth(o: AuthOptions): AuthPlan {
  const tried: string[] = [];
  const notes: string[] = [];
  let serverAccepts: AuthenticationType[] | null = null;
  const allows = (m: AuthenticationType): boolean => serverAccepts === null || serverAccepts.includes(m);
  const username = o.user;
  let gaveUpAsking = false;
  let promptError: Error | undefined;
  let keyboardAsked = false; // a person answered keyboard-interactive: do not ask again for "password"

  async function loadKey(path: string): Promise<ParsedKey | undefined> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (e) {
      notes.push(`${tilde(path)}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
      return undefined;
    }
    const parse = (passphrase?: string): ParsedKey | Error => {
      const k = ssh2.utils.parseKey(data, passphrase);
      return Array.isArray(k) ? (k[0] as ParsedKey) : k;
    };
    let key = parse();
    if (key instanceof Error && isEncryptedKeyError(key)) {
      if (!o.askSecret || gaveUpAsking) {
        notes.push(`${tilde(path)} is encrypted and no passphrase could be asked`);
        return undefined;
      }
      for (let attempt = 1; attempt <= MAX_ATTEMPTS && key instanceof Error; attempt++) {
        const ask = o.askSecret;
        const pass = await o.pause(() => ask({ kind: 'passphrase', message: `Enter passphrase for key '${tilde(path)}':`, keyPath: path, attempt }));
        if (pass === undefined) {
          notes.push(`${tilde(path)}: no passphrase given`);
          return undefined;
        }
        key = parse(pass);
      }
      if (key instanceof Error) {
        notes.push(`${tilde(path)}: wrong passphrase`);
        return undefined;
      }
    }
    if (key instanceof Error) {
      notes.push(`${tilde(path)}: ${key.message}`);
      return undefined;
    }
    if (!key.isPrivateKey()) {
      notes.push(`${tilde(path)} is not a private key`);
      return undefined;
    }
    return key;
  }

  const steps: Step[] = [async () => ({ type: 'none', username })];
  if (o.agentSocket) {
    const agent = o.agentSocket;
    steps.push(async () => {
      if (!allows('publickey')) return 'skip';
      if (!existsSync(agent)) {
        notes.push(`ssh-agent socket ${agent} does not exist`);
        return 'skip';
      }
      tried.push('ssh-agent');
      return { type: 'agent', username, agent };
    });
  }
  for (const path of o.identityFiles) {
    steps.push(async () => {
      if (!allows('publickey')) return 'skip';
      const key = await loadKey(path);
      if (!key) return 'skip';
      tried.push(tilde(path));
      return { type: 'publickey', username, key };
    });
  }
  if (o.askSecret) {
    const ask = o.askSecret;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      steps.push(async () => {
        if (gaveUpAsking || !allows('keyboard-interactive')) return 'skip';
        tried.push('keyboard-interactive');
        const prompt = (_name: string, _instructions: string, _lang: string, prompts: Prompt[], finish: KeyboardInteractiveCallback): void => {
          void (async () => {
            const answers: string[] = [];
            for (const p of prompts) {
              keyboardAsked = true;
              const a = await o.pause(() =>
                ask({ kind: 'keyboard-interactive', message: p.prompt.trim() || 'Password:', user: o.user, host: o.host, echo: p.echo === true, attempt }),
              );
              if (a === undefined) {
                gaveUpAsking = true;
                break;
              }
              answers.push(a);
            }
            finish(answers);
          })().catch((e: unknown) => {
            promptError = e instanceof Error ? e : new Error(String(e));
            gaveUpAsking = true;
            finish([]);
          });
        };
        return { type: 'keyboard-interactive', username, prompt };
      });
    }
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      steps.push(async () => {
        if (gaveUpAsking || keyboardAsked || !allows('password')) return 'skip';
        const password = await o.pause(() => ask({ kind: 'password', message: `${o.label}'s password:`, user: o.user, host: o.host, attempt }));
        if (password === undefined) {
          gaveUpAsking = true;
          return 'skip';
        }
        tried.push('password');
        return { type: 'password', username, password };
      });
    }
  }

  let next = 0;
  async function advance(): Promise<AnyAuthMethod | false> {
    while (next < steps.length) {
      const r = await steps[next++]!();
      if (r !== 'skip') return r;
    }
    return false;
  }

  const handler: AuthHandlerMiddleware = (authsLeft, _partial, done) => {
    if (authsLeft) serverAccepts = authsLeft;
    advance().then(
      (m) => done(m as AnyAuthMethod),
      (e: unknown) => {
        promptError = e instanceof Error ? e : new Error(String(e));
        done(false as unknown as AnyAuthMethod);
      },
    );
  };

  function failureMessage(): string {
    const parts = [`tried: ${tried.length ? [...new Set(tried)].join(', ') : 'nothing usable'}`];
    if (serverAccepts) parts.push(`the server accepts: ${serverAccepts.join(', ')}`);
    const hint = o.askSecret ? '' : ' Password and passphrase prompts are off (non-interactive): use ssh-agent or a key without passphrase.';
    const noteText = notes.length ? ` Notes: ${[...new Set(notes)].join('; ')}.` : '';
    return `Permission denied for ${o.label} (${parts.join('; ')}).${noteText}${hint}`;
  }

  return { handler, failureMessage, promptError: () => promptError };
}
