/**
 * Endpoints that API.md promises but that are still being built on other branches
 * (statements, payments, autopay), written in openapi-typescript's shape.
 *
 * `client.ts` uses an entry here only while the generated `schema.d.ts` lacks that
 * path: once the branch merges and `make web-openapi` regenerates the schema, the
 * generated path wins and any difference from these shapes breaks `tsc`.
 * Delete an entry when its path appears in schema.d.ts.
 */

type NoParams = { query?: never; header?: never; path?: never; cookie?: never };
type Problem = { content: { "application/problem+json": ProblemBody } };
type Json<T> = { headers: { [name: string]: unknown }; content: { "application/json": T } };

export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
}

export interface Statement {
  id: string;
  period_start: string;
  period_end: string;
  opening_balance: number;
  purchases: number;
  refunds: number;
  payments: number;
  interest: number;
  fees: number;
  closing_balance: number;
  minimum_payment: number;
  due_date: string;
}

export interface Payment {
  id: string;
  status: "pending" | "succeeded" | "failed";
  amount: number;
  failure_code: string | null;
  stripe_payment_intent_id: string | null;
  created_at?: string;
}

export interface PaymentIn {
  amount: number;
  payment_method: string;
}

export interface Autopay {
  enabled: boolean;
  amount: "minimum" | "statement_balance";
  payment_method: string | null;
}

interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

type PageQuery = { limit?: number; cursor?: string | null };

interface Unused {
  put?: never;
  post?: never;
  delete?: never;
  options?: never;
  head?: never;
  patch?: never;
  trace?: never;
}

export interface PendingPaths {
  "/v1/accounts/{id}/statements": Unused & {
    parameters: NoParams;
    get: {
      parameters: { query?: PageQuery; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<Page<Statement>>; 404: Problem };
    };
  };
  "/v1/statements/{id}": Unused & {
    parameters: NoParams;
    get: {
      parameters: { query?: never; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<Statement>; 404: Problem };
    };
  };
  "/v1/statements/{id}/pdf": Unused & {
    parameters: NoParams;
    get: {
      parameters: { query?: never; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: {
        200: { headers: { [name: string]: unknown }; content: { "application/pdf": string } };
        404: Problem;
      };
    };
  };
  "/v1/accounts/{id}/payments": Omit<Unused, "post"> & {
    parameters: NoParams;
    get: {
      parameters: { query?: PageQuery; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<Page<Payment>>; 404: Problem };
    };
    post: {
      parameters: {
        query?: never;
        header: { "Idempotency-Key": string };
        path: { id: string };
        cookie?: never;
      };
      requestBody: { content: { "application/json": PaymentIn } };
      responses: { 201: Json<Payment>; 404: Problem; 409: Problem; 422: Problem };
    };
  };
  "/v1/accounts/{id}/autopay": Omit<Unused, "put"> & {
    parameters: NoParams;
    get: {
      parameters: { query?: never; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<Autopay>; 404: Problem };
    };
    put: {
      parameters: { query?: never; header?: never; path: { id: string }; cookie?: never };
      requestBody: { content: { "application/json": Autopay } };
      responses: { 200: Json<Autopay>; 404: Problem; 422: Problem };
    };
  };
}
