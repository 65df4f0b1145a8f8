/** A setting the user can fix: reported as one line, never with a stack. */
export class ConfigError extends Error {}
