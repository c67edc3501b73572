import { describe, expect, it } from "vitest";
import { makeClient, problemMessage, unwrap, ApiError } from "./client";
import { AuthSession } from "./session";

const BASE = "http://api.test";

interface Call {
  method: string;
  path: string;
  auth: string | null;
  body: string;
  csrf: string | null;
  transport: string | null;
}

/**
 * A fake API in cookie mode: valid access tokens are a set; the "browser's" cookie jar
 * holds the refresh cookie (unreadable by the page) and the CSRF cookie; a refresh
 * cookie works once (rotation) and only with the matching X-CSRF-Token.
 */
function fakeApi() {
  const calls: Call[] = [];
  const valid = new Set<string>();
  const jar: { refresh: string | null; csrf: string | null } = { refresh: null, csrf: null };
  const spent = new Set<string>();
  let issued = 0;
  let refreshFails = false;

  const issue = () => {
    issued += 1;
    const access = `access-${issued}`;
    valid.add(access);
    jar.refresh = `refresh-${issued}`;
    jar.csrf = `csrf-${issued}`;
    return Response.json({ access_token: access, token_type: "bearer", expires_in: 900, csrf_token: jar.csrf });
  };
  const refused = (status: number, code: string) => Response.json({ code, detail: code }, { status });

  const fetch = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    const body = await request.text();
    const auth = request.headers.get("Authorization");
    const csrf = request.headers.get("X-CSRF-Token");
    const transport = request.headers.get("X-Token-Transport");
    calls.push({ method: request.method, path, auth, body, csrf, transport });
    if (path === "/v1/auth/token") {
      const form = new URLSearchParams(body);
      if (form.get("grant_type") === "password") {
        return form.get("password") === "right password" ? issue() : refused(400, "invalid_grant");
      }
      if (form.has("refresh_token")) return refused(400, "not_cookie_mode");
      if (!jar.refresh) return refused(400, "invalid_grant");
      if (csrf !== jar.csrf) return refused(403, "csrf_failed");
      if (refreshFails || spent.has(jar.refresh)) return refused(400, "invalid_grant");
      spent.add(jar.refresh);
      return issue();
    }
    if (path === "/v1/auth/logout") {
      if (csrf !== jar.csrf || body) return refused(403, "csrf_failed");
      jar.refresh = jar.csrf = null;
      return new Response(null, { status: 204 });
    }
    if (!auth || !valid.has(auth.replace("Bearer ", ""))) {
      return Response.json({ code: "invalid_token", detail: "Expired." }, { status: 401 });
    }
    if (path === "/v1/me") return Response.json({ id: "usr_1", email: "a@example.com", full_name: "A", role: "customer" });
    if (path === "/v1/cards/card_1/controls" && request.method === "PUT") return Response.json(JSON.parse(body));
    return Response.json({ detail: "Not Found" }, { status: 404 });
  };

  return {
    calls,
    fetch,
    jar,
    readCookie: (name: string) => (name === "cp_csrf" ? jar.csrf : null),
    expireAll: () => valid.clear(),
    failRefresh: () => {
      refreshFails = true;
    },
  };
}

async function signedIn() {
  const api = fakeApi();
  const session = new AuthSession({ baseUrl: BASE, fetch: api.fetch, readCookie: api.readCookie });
  await session.signIn("a@example.com", "right password");
  return { api, session, client: makeClient(session, BASE) };
}

describe("AuthSession", () => {
  it("signs in with the password grant and sends the bearer token", async () => {
    const { api, session, client } = await signedIn();
    expect(session.signedIn).toBe(true);
    expect(new URLSearchParams(api.calls[0]!.body).get("grant_type")).toBe("password");
    expect(api.calls[0]!.transport).toBe("cookie");
    // The page holds no refresh token at all: it lives in the HttpOnly cookie.
    expect(session.current).toEqual({ accessToken: "access-1", csrfToken: "csrf-1" });
    expect(JSON.stringify(session.current)).not.toContain("refresh");
    const me = await unwrap(client.GET("/v1/me"));
    expect(me.email).toBe("a@example.com");
    expect(api.calls.at(-1)!.auth).toBe("Bearer access-1");
  });

  it("reports a wrong password without signing in", async () => {
    const session = new AuthSession({ baseUrl: BASE, fetch: fakeApi().fetch });
    await expect(session.signIn("a@example.com", "wrong")).rejects.toMatchObject({ status: 400, code: "invalid_grant" });
    expect(session.signedIn).toBe(false);
  });

  it("refreshes once on a 401 and retries the request with its body", async () => {
    const { api, session, client } = await signedIn();
    api.expireAll();
    const body = { blocked_mcc_groups: ["gambling" as const], blocked_countries: [], per_authorization_limit: 5000, daily_limit: null, monthly_limit: null };
    const saved = await unwrap(client.PUT("/v1/cards/{id}/controls", { params: { path: { id: "card_1" } }, body }));
    expect(saved.per_authorization_limit).toBe(5000);
    const paths = api.calls.map((c) => `${c.method} ${c.path}`);
    expect(paths).toEqual([
      "POST /v1/auth/token",
      "PUT /v1/cards/card_1/controls",
      "POST /v1/auth/token",
      "PUT /v1/cards/card_1/controls",
    ]);
    expect(api.calls[3]!.auth).toBe("Bearer access-2");
    expect(JSON.parse(api.calls[3]!.body)).toEqual(body);
    expect(api.calls[2]!.csrf).toBe("csrf-1");
    expect(new URLSearchParams(api.calls[2]!.body).has("refresh_token")).toBe(false);
    expect(session.current?.csrfToken).toBe("csrf-2");
  });

  it("shares one refresh between requests that fail together", async () => {
    const { api, client } = await signedIn();
    api.expireAll();
    const results = await Promise.all([1, 2, 3].map(() => unwrap(client.GET("/v1/me"))));
    expect(results.map((r) => r.id)).toEqual(["usr_1", "usr_1", "usr_1"]);
    const refreshes = api.calls.filter((c) => c.path === "/v1/auth/token" && c.body.includes("grant_type=refresh_token"));
    expect(refreshes).toHaveLength(1);
  });

  it("signs out when the refresh fails, and does not loop", async () => {
    const { api, session, client } = await signedIn();
    let notified = 0;
    session.subscribe(() => {
      notified += 1;
    });
    api.expireAll();
    api.failRefresh();
    const { response } = await client.GET("/v1/me");
    expect(response.status).toBe(401);
    expect(session.signedIn).toBe(false);
    expect(notified).toBe(1);
    expect(api.calls.filter((c) => c.path === "/v1/me")).toHaveLength(1);
  });

  it("retries at most once when the new token is refused too", async () => {
    const api = fakeApi();
    let meCalls = 0;
    // Every API call answers 401, whatever the token; the auth endpoints work.
    const session = new AuthSession({
      baseUrl: BASE,
      readCookie: api.readCookie,
      fetch: (request) => {
        if (new URL(request.url).pathname.startsWith("/v1/auth")) return api.fetch(request);
        meCalls += 1;
        return Promise.resolve(new Response(null, { status: 401 }));
      },
    });
    await session.signIn("a@example.com", "right password");
    const { response } = await makeClient(session, BASE).GET("/v1/me");
    expect(response.status).toBe(401);
    expect(meCalls).toBe(2);
  });

  it("revokes the refresh cookie on sign-out with the CSRF token and no body", async () => {
    const { api, session } = await signedIn();
    await session.signOut();
    expect(session.signedIn).toBe(false);
    const logout = api.calls.at(-1)!;
    expect(logout.path).toBe("/v1/auth/logout");
    expect(logout.csrf).toBe("csrf-1");
    expect(logout.transport).toBe("cookie");
    expect(logout.body).toBe("");
    expect(api.jar.refresh).toBeNull();
  });

  it("restores the session from the refresh cookie after a reload, once", async () => {
    const { api } = await signedIn();
    // A reload: a new page, nothing in memory, the cookies still in the browser.
    const reloaded = new AuthSession({ baseUrl: BASE, fetch: api.fetch, readCookie: api.readCookie });
    expect(reloaded.pending).toBe(true);
    const [first, second] = await Promise.all([reloaded.restore(), reloaded.restore()]);
    expect([first, second]).toEqual([true, true]);
    expect(reloaded.pending).toBe(false);
    expect(reloaded.current?.accessToken).toBe("access-2");
    expect(api.calls.filter((c) => c.body === "grant_type=refresh_token")).toHaveLength(1);
  });

  it("stays signed out after a reload without a cookie or with a dead one", async () => {
    const empty = fakeApi();
    const none = new AuthSession({ baseUrl: BASE, fetch: empty.fetch, readCookie: empty.readCookie });
    expect(none.pending).toBe(false);
    expect(await none.restore()).toBe(false);
    expect(empty.calls).toHaveLength(0);

    const { api } = await signedIn();
    api.failRefresh();
    const reloaded = new AuthSession({ baseUrl: BASE, fetch: api.fetch, readCookie: api.readCookie });
    expect(await reloaded.restore()).toBe(false);
    expect(reloaded.signedIn).toBe(false);
    expect(reloaded.pending).toBe(false);
  });

  it("does not send a token to the auth endpoints", async () => {
    const { api, client } = await signedIn();
    await client.POST("/v1/auth/register", { body: { email: "b@example.com", password: "x".repeat(12), full_name: "B" } });
    expect(api.calls.at(-1)!.auth).toBeNull();
  });
});

describe("problems", () => {
  it("turns problem+json and FastAPI's 422 into sentences", async () => {
    expect(problemMessage({ title: "Conflict", detail: "That email is taken.", code: "email_taken" })).toBe(
      "That email is taken.",
    );
    expect(problemMessage({ detail: [{ loc: ["body", "amount"], msg: "Input should be greater than 0" }] })).toBe(
      "amount: Input should be greater than 0",
    );
    expect(problemMessage(undefined)).toMatch(/try again/);
    const { client } = await signedIn();
    await expect(unwrap(client.GET("/v1/accounts/{id}", { params: { path: { id: "nope" } } }))).rejects.toBeInstanceOf(
      ApiError,
    );
  });
});
