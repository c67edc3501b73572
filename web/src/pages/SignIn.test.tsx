// @vitest-environment jsdom
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeApi, json, problem, renderPage } from "../test/render";
import { SignIn } from "./SignIn";

async function signIn(password: string) {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("Email"), "ada@example.com");
  await user.type(screen.getByLabelText("Password"), password);
  await user.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("SignIn", () => {
  it("says plainly when the email and password do not match", async () => {
    const api = fakeApi({ "POST /v1/auth/token": () => problem(400, "invalid_grant", "The email or password is incorrect.") });
    const { session } = renderPage(<SignIn />, api);
    await signIn("not the password");
    expect(await screen.findByRole("alert")).toHaveTextContent("That email and password do not match an account.");
    expect(session.signedIn).toBe(false);
    // Asked for the cookie mode: the refresh token never reaches the page.
    expect(api.seen[0]!.headers.get("X-Token-Transport")).toBe("cookie");
    expect(new URLSearchParams(api.seen[0]!.body).get("username")).toBe("ada@example.com");
    expect(screen.getByRole("button", { name: "Sign in" })).toBeEnabled();
  });

  it("shows the API's sentence for a locked login", async () => {
    const api = fakeApi({
      "POST /v1/auth/token": () => problem(429, "login_locked", "Too many failed logins for this email."),
    });
    renderPage(<SignIn />, api);
    await signIn("whatever password");
    expect(await screen.findByRole("alert")).toHaveTextContent("Too many failed logins for this email.");
  });

  it("signs in and leaves the page", async () => {
    const api = fakeApi({
      "POST /v1/auth/token": json({ access_token: "a", token_type: "bearer", expires_in: 900, csrf_token: "c" }),
    });
    const { session } = renderPage(<SignIn />, api, { path: "/signin", pattern: "/signin" });
    await signIn("correct horse battery");
    expect(await screen.findByText("elsewhere")).toBeInTheDocument();
    expect(session.signedIn).toBe(true);
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });
});
