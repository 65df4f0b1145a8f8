// The CLI runs the payload's `serve` and local `gc` as a child process (so that the CLI package
// needs no storage drivers) and opens an IPC channel to it. Through it the child hands back why it
// failed, and the CLI prints that as its own one-line error (and --json error document), exactly
// as when the code ran inside the CLI. Without a parent channel the payload prints for itself.

/**
 * The channel must not keep the child alive: `gc` ends when its work is done, not when the CLI
 * closes the channel. When the CLI goes away without passing on a signal (killed with SIGKILL), the
 * channel closes: the child stops as on SIGTERM rather than serve on without anyone to stop it.
 */
export function releaseParentChannel(): void {
  if (!process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

/** The message a child sends its CLI parent when it fails. */
export interface PayloadFailureMessage {
  type: 'registry-setup.payload-failure';
  /** one line for the user */
  message: string;
  /** for REGISTRY_SETUP_DEBUG */
  stack?: string;
}

/** Sends the failure to the CLI parent; false when there is none (run on its own, in the image). */
export function reportFailureToParent(message: string, stack?: string): Promise<boolean> {
  const send = process.send?.bind(process);
  if (!send || !process.connected) return Promise.resolve(false);
  const failure: PayloadFailureMessage = { type: 'registry-setup.payload-failure', message, ...(stack ? { stack } : {}) };
  return new Promise((resolve) => {
    send(failure, undefined, {}, (err) => resolve(!err));
  });
}
