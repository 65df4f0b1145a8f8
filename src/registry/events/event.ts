import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { IncomingMessage } from 'node:http';
import { publicHost } from '../ui/security.js';
import type { EventAction } from './endpoints.js';

/** One event, with the field names of distribution's notifications (docs/notifications.md). */
export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: EventAction;
  target: {
    mediaType?: string;
    size?: number;
    length?: number;
    digest: string;
    repository: string;
    url: string;
    tag?: string;
  };
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

const INSTANCE_ID = randomUUID();

export interface ManifestEventDetails {
  action: EventAction;
  repository: string;
  digest: string;
  tag?: string;
  mediaType?: string;
  size?: number;
}

export function manifestEvent(d: ManifestEventDetails, req: IncomingMessage, requestId: string, user: string | null, sourceAddr: string): RegistryEvent {
  const host = publicHost(req);
  const scheme = req.headers['x-forwarded-proto'] === 'https' || (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action: d.action,
    target: {
      ...(d.mediaType ? { mediaType: d.mediaType } : {}),
      ...(d.size !== undefined ? { size: d.size, length: d.size } : {}),
      digest: d.digest,
      repository: d.repository,
      url: `${scheme}://${host}/v2/${d.repository}/manifests/${d.digest}`,
      ...(d.tag ? { tag: d.tag } : {}),
    },
    request: {
      id: requestId,
      addr: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`,
      host,
      method: req.method ?? '',
      useragent: String(req.headers['user-agent'] ?? '').slice(0, 300),
    },
    actor: user ? { name: user } : {},
    source: { addr: sourceAddr || os.hostname(), instanceID: INSTANCE_ID },
  };
}
