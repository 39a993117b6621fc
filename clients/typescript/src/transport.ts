/**
 * Operations of the contract to HTTP and back, with the platform's `fetch`: the route from
 * the generated table, the credential, the timeout, the retries and the error classes.
 */

import { OPERATIONS, type OperationName, type Operations } from "./api.js";
import { errorFor, InvalidInput, KonstructMemoryError, Unavailable } from "./errors.js";

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

export interface ConnectionOptions {
  /** The service's root, e.g. `http://127.0.0.1:8080`. */
  baseURL: string;
  /** Milliseconds one attempt may take before it fails as `Unavailable` (default 30 000). */
  timeoutMs?: number;
  /** Attempts after the first on 429 and 503 with `Retry-After` (default 2), for reads and
   * idempotent writes only. */
  maxRetries?: number;
  /** A `fetch` to use instead of the global one (a proxy agent, a test double). */
  fetch?: Fetch;
  /** A write position to start from (the consistency token another client was given). */
  position?: string;
}

/** Per-call options. */
export interface CallOptions {
  /** Ends the call (and the waits between its attempts) when aborted. */
  signal?: AbortSignal;
}

const RETRIED_STATUSES = new Set([429, 503]);

/** The consistency token's header: writes answer with their position in the primary's
 * write-ahead log; a read carrying it sees those writes, whichever process serves it. */
export const POSITION_HEADER = "Konstruct-Memory-Position";
const POSITION = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** The later of two positions (`16/B374D848`); a malformed `given` is ignored. */
export function newestPosition(
  known: string | undefined,
  given: string | null | undefined,
): string | undefined {
  const next = given?.trim().match(POSITION);
  if (!next) return known;
  const held = known?.match(POSITION);
  if (!held) return next[0];
  const [, nextHigh = "0", nextLow = "0"] = next;
  const [, heldHigh = "0", heldLow = "0"] = held;
  const later =
    parseInt(nextHigh, 16) > parseInt(heldHigh, 16) ||
    (parseInt(nextHigh, 16) === parseInt(heldHigh, 16) &&
      parseInt(nextLow, 16) > parseInt(heldLow, 16));
  return later ? next[0] : known;
}

export class Transport {
  readonly #baseURL: string;
  readonly #authorization: string;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #fetch: Fetch;
  #position: string | undefined;

  constructor(options: ConnectionOptions, token: string) {
    if (!options.baseURL) throw new TypeError("baseURL is required");
    if (!token) throw new TypeError("a credential (apiKey or adminToken) is required");
    this.#baseURL = options.baseURL.replace(/\/+$/, "");
    this.#authorization = `Bearer ${token}`;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxRetries = options.maxRetries ?? 2;
    // Bound to globalThis: browsers refuse a `fetch` called with another `this`.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#position = newestPosition(undefined, options.position);
  }

  /** The newest write position the service answered with: sent on every later request. */
  get position(): string | undefined {
    return this.#position;
  }

  async call<N extends OperationName>(
    name: N,
    params: Operations[N]["params"] | undefined,
    options: CallOptions = {},
  ): Promise<Operations[N]["result"]> {
    const fields = { ...(params ?? {}) } as Record<string, unknown>;
    const { url, init } = encode(name, fields);
    const retries = isRetryable(name, fields) ? this.#maxRetries : 0;
    for (let attempt = 0; ; attempt++) {
      const response = await this.#send(`${this.#baseURL}${url}`, init, options.signal);
      if (response.ok) return (await decode(response)) as Operations[N]["result"];
      const wait = retryAfterSeconds(response.headers.get("Retry-After"));
      const error = await errorOf(response, wait);
      if (attempt >= retries || !RETRIED_STATUSES.has(response.status) || wait === undefined) {
        throw error;
      }
      await sleep(wait * 1000, options.signal);
    }
  }

  async #send(url: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const headers = { ...(init.headers as Record<string, string>) };
    headers["Authorization"] = this.#authorization;
    if (this.#position !== undefined) headers[POSITION_HEADER] = this.#position;
    try {
      const response = await this.#fetch(url, {
        ...init,
        headers,
        signal: signal ? either(signal, timeout) : timeout,
      });
      this.#position = newestPosition(this.#position, response.headers.get(POSITION_HEADER));
      return response;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const reason = timeout.aborted ? `no answer within ${this.#timeoutMs} ms` : describe(error);
      // As the Python client: a service that cannot be reached is Unavailable.
      throw new Unavailable(`memory service unreachable: ${reason}`, { cause: error });
    }
  }
}

/** The route of an operation with its fields: path fields in the URL, the rest in the query
 * string (GET, DELETE) or a JSON body (POST, PATCH). A field left out or null is not sent, so
 * the service applies its own default, except on PATCH, where null means "set to null". */
export function encode(
  name: OperationName,
  fields: Record<string, unknown>,
): { url: string; init: RequestInit } {
  const operation = OPERATIONS[name];
  let path: string = operation.path;
  for (const field of operation.pathFields) {
    const value = fields[field];
    if (value === undefined || value === null || value === "") {
      // Refused here, as the service would: an empty path segment would name another route.
      throw new InvalidInput(`${field}: is required`);
    }
    path = path.replace(`{${field}}`, encodeURIComponent(String(value)));
    delete fields[field];
  }
  if (operation.method === "GET" || operation.method === "DELETE") {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || value === null) continue;
      // Lists repeat the parameter: roles=user&roles=assistant.
      for (const item of Array.isArray(value) ? value : [value]) query.append(key, String(item));
    }
    const search = query.toString();
    return { url: search ? `${path}?${search}` : path, init: { method: operation.method } };
  }
  const body =
    operation.method === "PATCH"
      ? fields
      : Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null));
  return {
    url: path,
    init: {
      method: operation.method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    },
  };
}

/** Reads may be sent again; so may a remember whose turns all carry their own id (the
 * service stores an id once). Other writes never are: a lost answer may hide a done write. */
export function isRetryable(name: OperationName, fields: Record<string, unknown>): boolean {
  const operation = OPERATIONS[name];
  if (operation.method === "GET") return true;
  if (operation.access === "read") return true; // recall, context: POST, but reads
  if (name === "remember") {
    const turns = fields["turns"];
    return (
      Array.isArray(turns) &&
      turns.length > 0 &&
      turns.every((turn: { id?: unknown }) => typeof turn?.id === "string" && turn.id !== "")
    );
  }
  return false;
}

/** Seconds of a `Retry-After` header: a number of seconds or an HTTP date. */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

async function decode(response: Response): Promise<unknown> {
  const text = await response.text();
  if (response.status === 204 || text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new KonstructMemoryError(`the service answered ${response.status} with no JSON`, {
      status: response.status,
      code: "invalid_answer",
    });
  }
}

async function errorOf(response: Response, retryAfter?: number): Promise<KonstructMemoryError> {
  let code = "http_error";
  let message = `HTTP ${response.status}`;
  try {
    const answer = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof answer.error?.code === "string" && typeof answer.error.message === "string") {
      code = answer.error.code;
      message = answer.error.message;
    }
  } catch {
    // Not the API's error body (a proxy's page, say): the status alone says what happened.
  }
  return errorFor(code, message, response.status, retryAfter);
}

/** A signal aborted when either is (`AbortSignal.any` where the platform has it). */
function either(first: AbortSignal, second: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === "function") return AbortSignal.any([first, second]);
  const both = new AbortController();
  for (const signal of [first, second]) {
    if (signal.aborted) both.abort(signal.reason);
    signal.addEventListener("abort", () => both.abort(signal.reason), { once: true });
  }
  return both.signal;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Node's fetch puts the socket error (ECONNREFUSED, …) in `cause`.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.name}: ${error.message}${cause}`;
}
