import { describe, expect, it } from "vitest";
import { makeClient, problemMessage, unwrap, ApiError } from "./client";
import { AuthSession } from "./session";

const BASE = "http://api.test";

interface Call {
  method: string;
  path: string;
  auth: string | null;
  body: string;
}

/** A fake API: valid access tokens are a set; a refresh token works once (rotation). */
function fakeApi() {
  const calls: Call[] = [];
  const valid = new Set<string>();
  const refreshTokens = new Set<string>();
  let issued = 0;
  let refreshFails = false;

  const issue = () => {
    issued += 1;
    const access = `access-${issued}`;
    const refresh = `refresh-${issued}`;
    valid.add(access);
    refreshTokens.add(refresh);
    return Response.json({ access_token: access, token_type: "bearer", expires_in: 900, refresh_token: refresh });
  };

  const fetch = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    const body = await request.text();
    const auth = request.headers.get("Authorization");
    calls.push({ method: request.method, path, auth, body });
    if (path === "/v1/auth/token") {
      const form = new URLSearchParams(body);
      if (form.get("grant_type") === "password") {
        return form.get("password") === "right password"
          ? issue()
          : Response.json({ code: "invalid_grant", detail: "Wrong email or password." }, { status: 400 });
      }
      const offered = form.get("refresh_token") ?? "";
      if (refreshFails || !refreshTokens.delete(offered)) {
        return Response.json({ code: "invalid_grant", detail: "Refresh token revoked." }, { status: 400 });
      }
      return issue();
    }
    if (path === "/v1/auth/logout") return new Response(null, { status: 204 });
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
    expireAll: () => valid.clear(),
    failRefresh: () => {
      refreshFails = true;
    },
  };
}

async function signedIn() {
  const api = fakeApi();
  const session = new AuthSession({ baseUrl: BASE, fetch: api.fetch });
  await session.signIn("a@example.com", "right password");
  return { api, session, client: makeClient(session, BASE) };
}

describe("AuthSession", () => {
  it("signs in with the password grant and sends the bearer token", async () => {
    const { api, session, client } = await signedIn();
    expect(session.signedIn).toBe(true);
    expect(new URLSearchParams(api.calls[0]!.body).get("grant_type")).toBe("password");
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
    expect(session.current?.refreshToken).toBe("refresh-2");
  });

  it("shares one refresh between requests that fail together", async () => {
    const { api, client } = await signedIn();
    api.expireAll();
    const results = await Promise.all([1, 2, 3].map(() => unwrap(client.GET("/v1/me"))));
    expect(results.map((r) => r.id)).toEqual(["usr_1", "usr_1", "usr_1"]);
    const refreshes = api.calls.filter((c) => c.path === "/v1/auth/token" && c.body.includes("refresh_token"));
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

  it("revokes the refresh token on sign-out", async () => {
    const { api, session } = await signedIn();
    await session.signOut();
    expect(session.signedIn).toBe(false);
    const logout = api.calls.at(-1)!;
    expect(logout.path).toBe("/v1/auth/logout");
    expect(JSON.parse(logout.body)).toEqual({ refresh_token: "refresh-1" });
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
