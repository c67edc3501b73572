/**
 * The signed-in session: the access token in memory only, the refresh token in an
 * HttpOnly cookie the page cannot read, and a `fetch` for openapi-fetch that sends the
 * access token and, on a 401, refreshes once and retries once.
 *
 * - The API's cookie mode (`X-Token-Transport: cookie`, api/auth/cookies.py): the token
 *   answer carries no refresh token; the API sets `cp_refresh` (HttpOnly, SameSite=Strict,
 *   Path=/v1/auth) and `cp_csrf`, whose value goes back in `X-CSRF-Token` on refresh and
 *   sign-out. Nothing is written to localStorage, sessionStorage or the URL.
 * - A reload keeps the user signed in: `restore()` refreshes from the cookie when the
 *   `cp_csrf` cookie says there is one.
 * - Refreshes are single-flight: requests that fail together share one refresh, and
 *   a request whose token was already replaced retries without refreshing again
 *   (the API rotates refresh tokens and revokes a family on reuse).
 * - A failed refresh clears the session and tells the listeners (the app then shows
 *   the sign-in page).
 */

import type { components } from "./schema";

type CookieTokenOut = components["schemas"]["CookieTokenOut"];

export interface Tokens {
  accessToken: string;
  /** The CSRF token bound to the refresh cookie (also in the readable `cp_csrf` cookie). */
  csrfToken: string;
}

export const CSRF_COOKIE = "cp_csrf";
const COOKIE_MODE = { "X-Token-Transport": "cookie" };

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
  private readonly readCookie: (name: string) => string | null;
  private restoring: boolean;
  private restored: Promise<boolean> | null = null;

  constructor(options: { baseUrl?: string; fetch?: Fetch; readCookie?: (name: string) => string | null } = {}) {
    this.baseUrl = options.baseUrl ?? "";
    this.send = options.fetch ?? ((request) => globalThis.fetch(request, { credentials: "same-origin" }));
    this.readCookie = options.readCookie ?? documentCookie;
    // Until restore() has asked the API, a page that needs a session waits rather than
    // sending the user to the sign-in page.
    this.restoring = this.readCookie(CSRF_COOKIE) !== null;
  }

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  /** True while `restore()` is asking the API whether the refresh cookie still works. */
  get pending(): boolean {
    return this.restoring;
  }

  /**
   * After a reload: get a fresh access token from the refresh cookie, when the
   * readable CSRF cookie says there is one. Resolves to whether the user is signed in.
   * Single-flight (React's StrictMode runs effects twice, and a second use of the same
   * refresh cookie would look like theft and revoke the session).
   */
  restore(): Promise<boolean> {
    if (this.tokens) return Promise.resolve(true);
    if (this.restored) return this.restored;
    const csrfToken = this.readCookie(CSRF_COOKIE);
    if (!csrfToken) {
      this.setRestoring(false);
      return Promise.resolve(false);
    }
    this.setRestoring(true);
    this.restored = (async () => {
      try {
        const fresh = await this.tokenRequest(new URLSearchParams({ grant_type: "refresh_token" }), csrfToken);
        if (!this.tokens) this.setTokens(fresh);
      } catch {
        // The cookie is spent, revoked or expired (the API cleared it): stay signed out.
      } finally {
        this.restored = null;
        this.setRestoring(false);
      }
      return this.tokens !== null;
    })();
    return this.restored;
  }

  /** For tests: the tokens currently held. */
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

  /** Revokes the refresh cookie's family on the server (which clears the cookies), then forgets the tokens. */
  async signOut(): Promise<void> {
    const held = this.tokens;
    this.setTokens(null);
    const csrfToken = held?.csrfToken ?? this.readCookie(CSRF_COOKIE);
    if (!csrfToken) return;
    try {
      await this.send(
        new Request(this.url("/v1/auth/logout"), {
          method: "POST",
          headers: { ...COOKIE_MODE, "X-CSRF-Token": csrfToken },
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
        const body = new URLSearchParams({ grant_type: "refresh_token" });
        // The cookie holds the newest value (another tab may have refreshed).
        const fresh = await this.tokenRequest(body, this.readCookie(CSRF_COOKIE) ?? held.csrfToken);
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

  private async tokenRequest(body: URLSearchParams, csrfToken?: string): Promise<Tokens> {
    const headers: Record<string, string> = { ...COOKIE_MODE, "Content-Type": "application/x-www-form-urlencoded" };
    if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
    const response = await this.send(new Request(this.url("/v1/auth/token"), { method: "POST", headers, body }));
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as { detail?: string; code?: string };
      throw new AuthError(problem.detail ?? "Sign-in failed.", response.status, problem.code);
    }
    const token = (await response.json()) as CookieTokenOut;
    return { accessToken: token.access_token, csrfToken: token.csrf_token };
  }

  private setTokens(tokens: Tokens | null): void {
    const changed = (this.tokens === null) !== (tokens === null);
    this.tokens = tokens;
    if (changed) this.notify();
  }

  private setRestoring(restoring: boolean): void {
    if (this.restoring === restoring) return;
    this.restoring = restoring;
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  private url(path: string): string {
    return new URL(path, this.baseUrl || globalThis.location.origin).toString();
  }
}

function isAuthPath(url: string): boolean {
  const path = new URL(url, "http://x").pathname;
  return AUTH_PATHS.some((p) => path.endsWith(p));
}

function documentCookie(name: string): string | null {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("=")) || null;
  }
  return null;
}
