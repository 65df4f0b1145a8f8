import { Sampled, type Family } from '../observe/exposition.js';
import type { EventQueue } from './queue.js';

/** The webhook queue's figures for /metrics. */
export function eventFamilies(queue: EventQueue): Family[] {
  const per = (pick: (s: ReturnType<EventQueue['stats']>[number]) => number) => () => queue.stats().map((s) => ({ labels: { endpoint: s.endpoint }, value: pick(s) }));
  return [
    new Sampled('registry_events_pending', 'Events waiting for delivery, by endpoint.', 'gauge', per((s) => s.pending)),
    new Sampled('registry_events_delivered_total', 'Events delivered since start, by endpoint.', 'counter', per((s) => s.delivered)),
    new Sampled('registry_events_failed_posts_total', 'Posts that failed and will be retried, by endpoint.', 'counter', per((s) => s.failedPosts)),
    new Sampled('registry_events_dropped_total', 'Events dropped because the queue was full.', 'counter', () => [{ value: queue.dropped }]),
  ];
}
