// @vitest-environment jsdom
import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { fakeApi, renderPage } from "../test/render";
import { Overview } from "./Overview";

const ACCOUNT = {
  id: "acct_0123456789abcdef",
  status: "active",
  credit_limit: 500_000,
  current_balance: 123_456,
  pending_amount: 2_500,
  available_credit: 374_044,
  apr_bps: 2499,
  currency: "USD",
  billing_cycle_day: 1,
  opened_at: "2026-01-01T00:00:00Z",
};

const STATEMENT = {
  id: "stmt_1",
  period_start: "2026-01-01",
  period_end: "2026-01-31",
  opening_balance: 0,
  purchases: 123_456,
  refunds: 0,
  payments: 0,
  interest: 0,
  fees: 0,
  closing_balance: 123_456,
  minimum_payment: 3_500,
  due_date: "2026-02-25",
};

function figure(name: string): string {
  const term = screen.getByText(name, { selector: "dt" });
  return within(term.parentElement!).getByRole("definition").textContent ?? "";
}

describe("Overview", () => {
  it("shows every figure in dollars and cents, and the next payment due", async () => {
    renderPage(
      <Overview />,
      fakeApi({
        "GET /v1/accounts": { data: [ACCOUNT], next_cursor: null },
        "GET /v1/accounts/acct_0123456789abcdef/statements": { data: [STATEMENT], next_cursor: null },
      }),
    );
    expect(await screen.findByTestId("current-balance")).toHaveTextContent("$1,234.56");
    expect(screen.getByTestId("available-credit")).toHaveTextContent("$3,740.44");
    expect(figure("Credit limit")).toBe("$5,000.00");
    expect(figure("Pending")).toBe("$25.00");
    expect(figure("APR")).toBe("24.99%");
    expect(await screen.findByText("Minimum payment")).toBeInTheDocument();
    expect(figure("Minimum payment")).toBe("$35.00");
    // In the user's locale (en-US here), never shifted a day by the time zone.
    expect(figure("Payment due")).toMatch(/Feb(ruary)? 25, 2026/);
    expect(screen.getByRole("link", { name: "Pay" })).toHaveAttribute(
      "href",
      "/accounts/acct_0123456789abcdef/payments",
    );
  });

  it("shows what is past due, inside the minimum payment", async () => {
    renderPage(
      <Overview />,
      fakeApi({
        "GET /v1/accounts": { data: [{ ...ACCOUNT, past_due_amount: 2_500 }], next_cursor: null },
        "GET /v1/accounts/acct_0123456789abcdef/statements": {
          data: [{ ...STATEMENT, past_due_amount: 2_500, minimum_payment: 6_000 }],
          next_cursor: null,
        },
      }),
    );
    expect(await screen.findByText("Past due")).toBeInTheDocument();
    expect(figure("Past due")).toMatch(/^\$25\.00 \(included in the minimum/);
    expect(figure("Minimum payment")).toBe("$60.00");
  });

  it("offers to apply when there is no account", async () => {
    renderPage(<Overview />, fakeApi({ "GET /v1/accounts": { data: [], next_cursor: null } }));
    expect(await screen.findByText("You have no card account yet.")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Apply for a card" })).toHaveAttribute("href", "/apply");
  });
});
