/**
 * The error tree of the Python package (`konstruct_memory.errors`), with the same names. The
 * class is chosen by the `code` of the API's answer `{"error": {"code", "message"}}`; every
 * error carries the HTTP `status`, the `code` and the service's `message`.
 */

export interface ErrorDetails {
  /** The answer's HTTP status; the class's own status when the service did not answer. */
  status?: number;
  code?: string;
  /** `Retry-After` of the answer, in seconds, when it had one. */
  retryAfter?: number;
  cause?: unknown;
}

/** Base of every error the client raises on purpose. */
export class KonstructMemoryError extends Error {
  static readonly status: number = 500;
  static readonly code: string = "internal_error";
  readonly status: number;
  readonly code: string;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    const own = new.target as typeof KonstructMemoryError;
    this.name = own.name;
    this.status = details.status ?? own.status;
    this.code = details.code ?? own.code;
  }
}

/** The service's configuration cannot work (e.g. an admin route without the owner URL). */
export class ConfigurationError extends KonstructMemoryError {
  static override readonly status: number = 500;
  static override readonly code: string = "configuration_error";
}

/** The runtime connection could bypass row-level security (the service refuses to run). */
export class UnsafeRuntimeRole extends ConfigurationError {
  static override readonly code: string = "unsafe_runtime_role";
}

/** The database schema is behind the code; run `konstruct-memory migrate`. */
export class SchemaOutOfDate extends ConfigurationError {
  static override readonly code: string = "schema_out_of_date";
}

/** The embedded PostgreSQL server could not be initialised, started or stopped. */
export class EmbeddedServerError extends KonstructMemoryError {
  static override readonly status: number = 503;
  static override readonly code: string = "database_unavailable";
}

/** The embedding model could not embed (endpoint down, wrong shape, …). */
export class EmbeddingUnavailable extends KonstructMemoryError {
  static override readonly status: number = 503;
  static override readonly code: string = "embedding_unavailable";
}

/** A field of the request is invalid; `field` names it (e.g. `turns[2].content`). */
export class InvalidInput extends KonstructMemoryError {
  static override readonly status: number = 422;
  static override readonly code: string = "invalid_input";
  readonly field: string;
  readonly problem: string;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details);
    // The service's message starts with the field path: "turns[0].content: must not be …".
    const separator = message.indexOf(": ");
    this.field = separator === -1 ? message : message.slice(0, separator);
    this.problem = separator === -1 ? "" : message.slice(separator + 2);
  }
}

/** A turn id is already stored with different fields, or was erased on request. */
export class Conflict extends KonstructMemoryError {
  static override readonly status: number = 409;
  static override readonly code: string = "conflict";
}

/** No such object for this tenant (whether or not it exists for another), or no such route. */
export class NotFound extends KonstructMemoryError {
  static override readonly status: number = 404;
  static override readonly code: string = "not_found";
}

/** Missing, unknown or revoked credential, or the wrong kind (a key on an admin route). */
export class Unauthorized extends KonstructMemoryError {
  static override readonly status: number = 401;
  static override readonly code: string = "unauthorized";
}

/** The credential is valid but may not do this (a missing scope, or outside its binding). */
export class Forbidden extends KonstructMemoryError {
  static override readonly status: number = 403;
  static override readonly code: string = "forbidden";
}

/** The service or its database is unreachable or overloaded; retry later. */
export class Unavailable extends KonstructMemoryError {
  static override readonly status: number = 503;
  static override readonly code: string = "unavailable";
  /** Seconds the answer's `Retry-After` asked to wait, if it said. */
  readonly retryAfter: number | undefined;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details);
    this.retryAfter = details.retryAfter;
  }
}

/** Too many requests are in flight; retry after `retryAfter` seconds. */
export class Overloaded extends Unavailable {
  static override readonly code: string = "overloaded";
}

/** Over a rate (the tenant's, or failed authentications from an address); retry after
 * `retryAfter` seconds (the `Retry-After` header). */
export class RateLimited extends KonstructMemoryError {
  static override readonly status: number = 429;
  static override readonly code: string = "rate_limited";
  readonly retryAfter: number;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details);
    this.retryAfter = details.retryAfter ?? 1;
  }
}

/** The request body is over the service's limit. */
export class PayloadTooLarge extends KonstructMemoryError {
  static override readonly status: number = 413;
  static override readonly code: string = "too_large";
}

/** Every class an answer's `code` can name, the base excepted. */
export const ERROR_CLASSES = [
  ConfigurationError,
  UnsafeRuntimeRole,
  SchemaOutOfDate,
  EmbeddedServerError,
  EmbeddingUnavailable,
  InvalidInput,
  Conflict,
  NotFound,
  Unauthorized,
  Forbidden,
  Unavailable,
  Overloaded,
  RateLimited,
  PayloadTooLarge,
] as const;

const BY_CODE = new Map<string, (typeof ERROR_CLASSES)[number]>(
  ERROR_CLASSES.map((cls) => [cls.code, cls]),
);

/** The error an API answer `{"error": {"code", "message"}}` stands for. A code this client
 * does not know (a newer service) is a `KonstructMemoryError` keeping that code. */
export function errorFor(
  code: string,
  message: string,
  status: number,
  retryAfter?: number,
): KonstructMemoryError {
  const cls = BY_CODE.get(code);
  const details: ErrorDetails = { status, code };
  if (retryAfter !== undefined) details.retryAfter = retryAfter;
  if (cls === undefined) return new KonstructMemoryError(`${code}: ${message}`, details);
  return new cls(message, details);
}
