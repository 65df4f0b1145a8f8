// Several hosts behind one name each order their own certificate, and the CA validates through
// whichever host the name leads it to: every host's nginx asks the others for a challenge token it
// does not hold (src/templates/nginx.ts). This is where each host finds the others.
import { isAcmePeer, isPeerAddress } from '../settings/rules.js';

export interface PeerHost {
  /** the per-host setting peerAddress, when given */
  peerAddress?: string;
  /** the host name SSH connects to (after ~/.ssh/config): the default address */
  sshHost: string;
  httpPort: number;
}

/** `address:port` of one host's HTTP listener as the other hosts reach it. */
export function peerOf(h: PeerHost): string {
  // peerAddress may carry its own port (a NAT or forwarder in between); else the host's httpPort
  if (h.peerAddress && isAcmePeer(h.peerAddress)) return h.peerAddress;
  let address = h.peerAddress ?? h.sshHost;
  if (!h.peerAddress && address.includes(':') && !address.startsWith('[')) address = `[${address}]`; // a bare IPv6 address
  const peer = `${address}:${h.httpPort}`;
  if (!isPeerAddress(address) || !isAcmePeer(peer)) {
    throw new Error(`the other hosts cannot be told to reach this one at "${address}": set peerAddress for it in registry-setup.yaml (a host name or an IP address)`);
  }
  return peer;
}

/** For each host, the others' addresses (none with a single host). */
export function acmePeersOf(hosts: readonly PeerHost[]): string[][] {
  const all = hosts.map(peerOf);
  return all.map((_, i) => all.filter((__, j) => j !== i));
}
