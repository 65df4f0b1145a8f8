// How deploy's last step checks a host from here, decided from the settings and what deploy saw:
// which CA to trust, which address to connect to, and the line it reports. Pure: the check itself
// is src/deploy/verify.ts.
import type { DeploySettings } from '../settings/settings.js';

export type VerifyCa =
  /** a certificate the caller gave (adopt: the old stack's) */
  | { from: 'given'; ca: Buffer }
  /** the self-signed certificate deploy made: read back from the host */
  | { from: 'host-certificate' }
  /** the system's trust store (Let's Encrypt, a custom certificate) */
  | { from: 'system' };

export interface VerifyChoice {
  ca: VerifyCa;
  /** connect to this address instead of what the domain resolves to */
  connectTo?: string;
}

export function verifyChoice(o: {
  tls: DeploySettings['tls'];
  verifyCa?: Buffer;
  /** the deployment has several hosts: each is checked at its own address, whatever the name resolves to */
  several: boolean;
  /** the domain resolves (from the host's view) */
  resolves: boolean;
  /** the host's SSH address */
  sshHost: string;
}): VerifyChoice {
  const ca: VerifyCa = o.verifyCa ? { from: 'given', ca: o.verifyCa } : o.tls === 'self-signed' ? { from: 'host-certificate' } : { from: 'system' };
  return { ca, connectTo: o.several || !o.resolves ? o.sshHost : undefined };
}

/** The verify step's detail: what was proven (without a known password only the 401). */
export function verifyDetail(passwordKnown: boolean, pushed: string): string {
  return `401 without and ${passwordKnown ? '200 with' : 'untested'} credentials${pushed ? ', push and pull ok' : ''}`;
}
