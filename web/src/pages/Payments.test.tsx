// @vitest-environment jsdom
import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeApi, json, renderPage, type Seen } from "../test/render";
import { Payments } from "./Payments";

const ACCOUNT = {
  id: "acct_1",
  status: "active",
  credit_limit: 500_000,
  current_balance: 12_345,
  pending_amount: 0,
  available_credit: 487_655,
  apr_bps: 2499,
  currency: "USD",
  billing_cycle_day: 1,
  opened_at: "2026-01-01T00:00:00Z",
};

function page(pay: (request: Seen) => Response | Promise<Response>) {
  const api = fakeApi({
    "GET /v1/accounts/acct_1": ACCOUNT,
    "GET /v1/accounts/acct_1/statements": { data: [], next_cursor: null },
    "GET /v1/accounts/acct_1/payments": { data: [], next_cursor: null },
    "GET /v1/accounts/acct_1/autopay": { enabled: false, amount: "minimum", payment_method: null, updated_at: null },
    "POST /v1/accounts/acct_1/payments": pay,
  });
  renderPage(<Payments />, api, { path: "/accounts/acct_1/payments", pattern: "/accounts/:accountId/payments" });
  return api;
}

const payment = (status: string, failure_code: string | null = null) =>
  json({ id: "pay_1", status, amount: 4_550, failure_code, stripe_payment_intent_id: "pi_1", created_at: "2026-01-02T00:00:00Z" }, 201);

describe("Pay now", () => {
  it("pays the dollars typed, in cents, with a test PaymentMethod and an Idempotency-Key", async () => {
    const api = page(() => payment("succeeded"));
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Amount in dollars"), "45.50");
    const form = within(screen.getByRole("form", { name: "Pay now" }));
    await user.selectOptions(form.getByLabelText("Pay from (Stripe test card)"), "pm_card_visa");
    await user.click(screen.getByRole("button", { name: "Pay" }));
    expect(await screen.findByText("Thank you: your payment of $45.50 went through.")).toBeInTheDocument();
    const sent = api.seen.filter((r) => r.method === "POST");
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0]!.body)).toEqual({ amount: 4_550, payment_method: "pm_card_visa" });
    expect(sent[0]!.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("says a declined card moved no money", async () => {
    page(() => payment("failed", "card_declined"));
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Amount in dollars"), "45.50");
    await user.click(screen.getByRole("button", { name: "Pay" }));
    expect(await screen.findByText(/was declined \(card declined\)\. No money moved\./)).toBeInTheDocument();
  });

  it("refuses an amount that is not dollars above zero", async () => {
    const api = page(() => payment("succeeded"));
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Amount in dollars"), "0");
    await user.click(screen.getByRole("button", { name: "Pay" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Enter an amount in dollars above zero");
    expect(api.seen.filter((r) => r.method === "POST")).toHaveLength(0);
  });

  it("retries a lost answer with the same Idempotency-Key", async () => {
    let calls = 0;
    const api = page(() => {
      calls += 1;
      if (calls === 1) throw new TypeError("Failed to fetch");
      return payment("succeeded");
    });
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Amount in dollars"), "45.50");
    await user.click(screen.getByRole("button", { name: "Pay" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Failed to fetch");
    await user.click(screen.getByRole("button", { name: "Pay" }));
    expect(await screen.findByText(/went through/)).toBeInTheDocument();
    const keys = api.seen.filter((r) => r.method === "POST").map((r) => r.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBe(keys[1]);
  });
});
