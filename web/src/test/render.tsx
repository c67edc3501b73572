/**
 * Rendering a page for component tests: the real ApiProvider, client and router, over a
 * fake API that answers by "METHOD /path" and records every request it saw.
 */
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { AuthSession } from "../api/session";
import { ApiProvider } from "../auth";

export interface Seen {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: string;
}

export type Handler = (request: Seen) => Response | Promise<Response>;

export function json(body: unknown, status = 200): Response {
  return Response.json(body, {
    status,
    headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" },
  });
}

export function problem(status: number, code: string, detail: string): Response {
  return json({ type: `https://docs.cardportal.dev/problems/${code}`, title: code, status, detail, code }, status);
}

export function fakeApi(routes: Record<string, Handler | unknown>) {
  const seen: Seen[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const entry: Seen = {
      method: request.method,
      path: url.pathname,
      search: url.search,
      headers: request.headers,
      body: await request.text(),
    };
    seen.push(entry);
    const route = routes[`${request.method} ${url.pathname}`];
    if (route === undefined) return problem(404, "not_found", `No fake for ${request.method} ${url.pathname}`);
    return typeof route === "function" ? (route as Handler)(entry) : json(route);
  };
  return { seen, fetch };
}

/** Renders `element` at `path` (matched by `pattern`) with a session over the fake API. */
export function renderPage(
  element: ReactElement,
  api: ReturnType<typeof fakeApi>,
  { path = "/", pattern = "*" }: { path?: string; pattern?: string } = {},
) {
  const session = new AuthSession({ baseUrl: "http://app.test", fetch: api.fetch, readCookie: () => null });
  return {
    session,
    ...render(
      <ApiProvider session={session} baseUrl="http://app.test">
        <MemoryRouter initialEntries={[path]}>
          <Routes>
            <Route path={pattern} element={element} />
            <Route path="*" element={<p>elsewhere</p>} />
          </Routes>
        </MemoryRouter>
      </ApiProvider>,
    ),
  };
}
