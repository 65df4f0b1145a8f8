import type { Ctx } from '../http/context.js';
import { manifestEvent, type ManifestEventDetails } from './event.js';

/** Journals a manifest event before the request is answered (nothing without `--notify`). */
export function notifyManifest(ctx: Ctx, details: ManifestEventDetails): void {
  const queue = ctx.registry.events;
  if (!queue) return;
  queue.append(manifestEvent(details, ctx.req, ctx.requestId ?? '', ctx.who, ''));
}
