// @vitest-environment jsdom
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeApi, json, problem, renderPage } from "../test/render";
import { CardPage } from "./Card";

const CARD = { id: "card_1", last4: "4242", exp_month: 3, exp_year: 2030, status: "active" };
const CONTROLS = {
  blocked_mcc_groups: [],
  blocked_countries: [],
  per_authorization_limit: null,
  daily_limit: null,
  monthly_limit: null,
};

function page(routes: Record<string, unknown>) {
  const api = fakeApi({
    "GET /v1/accounts/acct_1/cards": { data: [CARD], next_cursor: null },
    "GET /v1/cards/card_1/controls": CONTROLS,
    ...routes,
  });
  renderPage(<CardPage />, api, { path: "/accounts/acct_1/card", pattern: "/accounts/:accountId/card" });
  return api;
}

describe("Card freeze toggle", () => {
  it("freezes and unfreezes the card, and says so to assistive technology", async () => {
    const api = page({
      "POST /v1/cards/card_1/freeze": () => json({ ...CARD, status: "frozen" }),
      "POST /v1/cards/card_1/unfreeze": () => json({ ...CARD, status: "active" }),
    });
    const user = userEvent.setup();
    expect(await screen.findByRole("heading", { name: /^Card ending in\s*(•+\s*)*4242$/ })).toBeInTheDocument();
    const freeze = screen.getByRole("button", { name: "Freeze card" });
    expect(freeze).toHaveAttribute("aria-pressed", "false");
    await user.click(freeze);
    const unfreeze = await screen.findByRole("button", { name: "Unfreeze card" });
    expect(unfreeze).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByTestId("card-status")).toHaveTextContent("frozen");
    await user.click(unfreeze);
    expect(await screen.findByRole("button", { name: "Freeze card" })).toHaveAttribute("aria-pressed", "false");
    expect(api.seen.filter((r) => r.method === "POST").map((r) => r.path)).toEqual([
      "/v1/cards/card_1/freeze",
      "/v1/cards/card_1/unfreeze",
    ]);
  });

  it("keeps the state and shows the error when the API refuses", async () => {
    page({ "POST /v1/cards/card_1/freeze": () => problem(409, "card_closed", "This card is closed.") });
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Freeze card" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This card is closed.");
    expect(screen.getByTestId("card-status")).toHaveTextContent("active");
  });
});
