// compose.yaml's parts for retention and observability, apart from compose.ts so that the
// registry service's shape stays there.
import { NOTIFY_CONTAINER_PATHS, NOTIFY_LAYOUT } from '../host/contract.js';
import { CONTAINER_PATHS, HOST_LAYOUT, METRICS_PORT, REGISTRY_ENV, REGISTRY_UID, RETENTION_CONTAINER_PATHS, RETENTION_LAYOUT, RETENTION_SERVICE } from '../host/contract.js';

/**
 * The registry's observability: client addresses from nginx's X-Real-IP in the access log (only
 * nginx reaches the registry: it is on the compose network alone), the state dir whose gc,
 * retention and renewal records the metrics show, and the Prometheus listener on the compose
 * network (nginx does not publish it; see README "Metrics").
 */
export function observabilityEnvironment(): Record<string, string> {
  return {
    [REGISTRY_ENV.httpTrustProxy]: 'true',
    [REGISTRY_ENV.stateDirectory]: CONTAINER_PATHS.stateDir,
    [REGISTRY_ENV.metricsAddr]: `0.0.0.0:${METRICS_PORT}`,
  };
}

export interface RetentionServiceInput {
  image: string;
  /** the registry's storage: a data directory on the host, or the bucket's URL as the container sees it */
  dataDir: string;
  s3?: { url: string; caFile?: string };
  hardening: Record<string, unknown>;
  logging: Record<string, unknown>;
}

/**
 * The service the retention timer runs (`compose run --rm retention retention …`): the registry's
 * image, user, hardening and storage, plus the policy (read-only) and state/ (it records the run).
 * A profile keeps `up` from starting it. No network is needed beyond the bucket's.
 */
export function retentionService(i: RetentionServiceInput): Record<string, unknown> {
  const storage = i.s3
    ? {
        environment: { [REGISTRY_ENV.storageUrl]: i.s3.url, [REGISTRY_ENV.storageS3CredentialsFile]: CONTAINER_PATHS.s3Credentials },
        volumes: [`./${HOST_LAYOUT.s3Credentials}:${CONTAINER_PATHS.s3Credentials}:ro`, ...(i.s3.caFile ? [`./${HOST_LAYOUT.s3Ca}:${CONTAINER_PATHS.s3Ca}:ro`] : [])],
      }
    : { environment: {}, volumes: [`${i.dataDir}:${CONTAINER_PATHS.data}`] };
  return {
    image: i.image,
    profiles: [RETENTION_SERVICE],
    user: `${REGISTRY_UID}:${REGISTRY_UID}`,
    ...i.hardening,
    environment: storage.environment,
    volumes: [...storage.volumes, `./${RETENTION_LAYOUT.policy}:${RETENTION_CONTAINER_PATHS.policy}:ro`, `./${HOST_LAYOUT.stateDir}:${CONTAINER_PATHS.stateDir}`],
    logging: i.logging,
  };
}

/**
 * `notify:` endpoints: the registry reads notify/endpoints.yaml (and the secrets beside it) at
 * start, and queues undelivered events in state/events (writable, with a bucket too).
 */
export function notifyCompose(notify: readonly unknown[] | undefined): { environment: Record<string, string>; volumes: string[] } {
  if (!notify || notify.length === 0) return { environment: {}, volumes: [] };
  return {
    environment: { [REGISTRY_ENV.notificationsConfig]: NOTIFY_CONTAINER_PATHS.endpoints, [REGISTRY_ENV.notificationsDirectory]: NOTIFY_CONTAINER_PATHS.eventsDir },
    volumes: [`./${NOTIFY_LAYOUT.dir}:${NOTIFY_CONTAINER_PATHS.dir}:ro`],
  };
}
