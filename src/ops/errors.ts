/**
 * An error whose message is the whole story for the user (a refusal, a missing user, no deployment):
 * printed as one line, without the "see the command log" hint that unexpected failures get.
 */
export class OpsError extends Error {}
