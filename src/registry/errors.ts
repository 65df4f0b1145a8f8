// The error codes of the OCI distribution spec, with the HTTP status each is sent with.
export const ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  // distribution's own codes for malformed tags and pagination parameters.
  TAG_INVALID: 400,
  PAGINATION_NUMBER_INVALID: 400,
  UNKNOWN: 500,
  RANGE_INVALID: 416,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class RegistryError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
    status?: number,
  ) {
    super(message);
    this.status = status ?? ERROR_STATUS[code];
  }

  toJSON(): { errors: { code: string; message: string; detail?: unknown }[] } {
    const code = this.code === 'RANGE_INVALID' ? 'BLOB_UPLOAD_INVALID' : this.code;
    return { errors: [{ code, message: this.message, ...(this.detail === undefined ? {} : { detail: this.detail }) }] };
  }
}

/** 429 with the number of seconds the client should wait, sent as Retry-After too. */
export class TooManyRequestsError extends RegistryError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('TOOMANYREQUESTS', message, { retryAfterSeconds });
  }
}

/** 401: the request needs (other) credentials; the router adds the challenge the clients follow. */
export class AuthenticationRequiredError extends RegistryError {
  constructor(message = 'authentication required') {
    super('UNAUTHORIZED', message);
  }
}
