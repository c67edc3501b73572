/**
 * The typed API client: openapi-fetch over the paths generated from the API's
 * /openapi.json (schema.d.ts, `make web-openapi`).
 */

import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { AuthSession } from "./session";

export type Paths = paths;
export type Schemas = components["schemas"];
export type Statement = Schemas["StatementOut"];
export type Payment = Schemas["PaymentOut"];
export type Autopay = Schemas["AutopayIn"];

/** An RFC 9457 problem+json body, as the API answers every error. */
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
}

export function makeClient(session: AuthSession, baseUrl = "") {
  return createClient<Paths>({ baseUrl: baseUrl || globalThis.location?.origin, fetch: session.fetch });
}

export type ApiClient = ReturnType<typeof makeClient>;

/** A plain sentence from a problem+json body (or anything else an endpoint answered). */
export function problemMessage(error: unknown, fallback = "Something went wrong. Please try again."): string {
  if (error && typeof error === "object") {
    const problem = error as ProblemBody & { detail?: unknown };
    if (typeof problem.detail === "string" && problem.detail) return problem.detail;
    if (Array.isArray(problem.detail)) {
      // FastAPI's 422: [{loc, msg}, ...]
      const first = problem.detail[0] as { msg?: string; loc?: unknown[] } | undefined;
      if (first?.msg) return `${(first.loc ?? []).slice(1).join(".")}: ${first.msg}`.replace(/^: /, "");
    }
    if (typeof problem.title === "string" && problem.title) return problem.title;
  }
  return fallback;
}

/** A new Idempotency-Key for one user action (kept by the caller across retries of it). */
export function idempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/** An API answer that was not a success, with the problem's sentence and code. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The data of an openapi-fetch result, or an ApiError carrying the problem's detail. */
export async function unwrap<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await pending;
  if (response.ok && data !== undefined) return data;
  const code = error && typeof error === "object" ? (error as ProblemBody).code : undefined;
  throw new ApiError(problemMessage(error), response.status, code);
}

/**
 * True when the API has no such route (a 404 with the generic `not_found` code, not
 * e.g. `account_not_found`): pages for endpoints still being merged show "not yet".
 */
export function isMissingEndpoint(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404 && (!error.code || error.code === "not_found");
}
