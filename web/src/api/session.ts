/**
 * The signed-in session: tokens in memory only, and a `fetch` for openapi-fetch that
 * sends the access token and, on a 401, refreshes once and retries once.
 *
 * - Tokens are never written to localStorage, sessionStorage, cookies or the URL; a
 *   reload signs the user out (the API has no HttpOnly refresh cookie yet).
 * - Refreshes are single-flight: requests that fail together share one refresh, and
 *   a request whose token was already replaced retries without refreshing again
 *   (the API rotates refresh tokens and revokes a family on reuse).
 * - A failed refresh clears the session and tells the listeners (the app then shows
 *   the sign-in page).
 */

import type { components } from "./schema";

type TokenOut = components["schemas"]["TokenOut"];

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export type Fetch = (input: Request) => Promise<Response>;

export class AuthError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "AuthError";
  }
}

const AUTH_PATHS = ["/v1/auth/token", "/v1/auth/register", "/v1/auth/logout"];

export class AuthSession {
  private tokens: Tokens | null = null;
  private refreshing: Promise<boolean> | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly baseUrl: string;
  private readonly send: Fetch;

  constructor(options: { baseUrl?: string; fetch?: Fetch } = {}) {
    this.baseUrl = options.baseUrl ?? "";
    this.send = options.fetch ?? ((request) => globalThis.fetch(request));
  }

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  /** For tests and the sign-in page: the tokens currently held. */
  get current(): Readonly<Tokens> | null {
    return this.tokens;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async signIn(email: string, password: string): Promise<void> {
    const body = new URLSearchParams({ grant_type: "password", username: email, password });
    this.setTokens(await this.tokenRequest(body));
  }

  /** Revokes the refresh token's family on the server, then forgets the tokens. */
  async signOut(): Promise<void> {
    const held = this.tokens;
    this.setTokens(null);
    if (!held) return;
    try {
      await this.send(
        new Request(this.url("/v1/auth/logout"), {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: held.refreshToken }),
        }),
      );
    } catch {
      // Offline: the tokens are gone from this page either way; the refresh token expires.
    }
  }

  /**
   * Exchange the refresh token for new tokens; true when it worked. Concurrent
   * callers share one request.
   */
  refresh(): Promise<boolean> {
    if (this.refreshing) return this.refreshing;
    const held = this.tokens;
    if (!held) return Promise.resolve(false);
    this.refreshing = (async () => {
      try {
        const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: held.refreshToken });
        const fresh = await this.tokenRequest(body);
        if (this.tokens === held) this.setTokens(fresh);
        return this.tokens !== null;
      } catch {
        if (this.tokens === held) this.setTokens(null);
        return false;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** The `fetch` handed to openapi-fetch: bearer token, then one refresh and one retry on 401. */
  readonly fetch: Fetch = async (request) => {
    if (isAuthPath(request.url)) return this.send(request);
    const retry = request.clone();
    const sentWith = this.authorize(request);
    const response = await this.send(request);
    if (response.status !== 401 || sentWith === null) return response;
    // Another request may have refreshed while this one was in flight.
    const stillCurrent = this.tokens?.accessToken === sentWith;
    const refreshed = stillCurrent ? await this.refresh() : this.tokens !== null;
    if (!refreshed) return response;
    this.authorize(retry);
    return this.send(retry);
  };

  private authorize(request: Request): string | null {
    const token = this.tokens?.accessToken ?? null;
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return token;
  }

  private async tokenRequest(body: URLSearchParams): Promise<Tokens> {
    const response = await this.send(
      new Request(this.url("/v1/auth/token"), {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body,
      }),
    );
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as { detail?: string; code?: string };
      throw new AuthError(problem.detail ?? "Sign-in failed.", response.status, problem.code);
    }
    const token = (await response.json()) as TokenOut;
    return { accessToken: token.access_token, refreshToken: token.refresh_token };
  }

  private setTokens(tokens: Tokens | null): void {
    const changed = (this.tokens === null) !== (tokens === null);
    this.tokens = tokens;
    if (changed) for (const listener of this.listeners) listener();
  }

  private url(path: string): string {
    return new URL(path, this.baseUrl || globalThis.location.origin).toString();
  }
}

function isAuthPath(url: string): boolean {
  const path = new URL(url, "http://x").pathname;
  return AUTH_PATHS.some((p) => path.endsWith(p));
}
